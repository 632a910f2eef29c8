// Command demo is `make demo`: it brings up the local control plane (etcd,
// kube-apiserver, Tekton) with the modelguard controller, runs every
// PipelineRun under examples/, prints what happened, and leaves the cluster
// running for a look around. `demo down` (make demo-stop) stops it.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/tools"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

const demoNamespace = "modelguard-demo"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) != 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: demo up|down")
		os.Exit(1)
	}
	dir, err := demoDir()
	if err == nil {
		if os.Args[1] == "up" {
			err = up(ctx, dir, os.Stdout)
		} else {
			err = down(dir, os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func demoDir() (string, error) {
	root, err := tools.CacheRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "demo"), nil
}

func down(dir string, out io.Writer) error {
	if _, err := os.Stat(filepath.Join(dir, "cluster.json")); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(out, "demo: no demo cluster is running")
		return nil
	}
	if err := localcluster.StopDir(dir); err != nil {
		return err
	}
	fmt.Fprintln(out, "demo: cluster stopped")
	return nil
}

func up(ctx context.Context, dir string, out io.Writer) error {
	// A previous demo is replaced, so every `make demo` shows a fresh run.
	if _, err := localcluster.Attach(dir); err == nil {
		fmt.Fprintln(out, "demo: stopping the previous demo cluster")
		if err := localcluster.StopDir(dir); err != nil {
			return err
		}
	}
	step(out, "starting etcd, kube-apiserver and the Tekton controller (the first run builds them, ~7 min)")
	c, err := localcluster.Start(ctx, localcluster.Config{Dir: dir, Detach: true, Log: out})
	if err != nil {
		return err
	}
	root := tools.RepoRoot()
	if root == "" {
		return errors.New("run the demo from inside the modelguard checkout")
	}
	step(out, "installing config/ (namespace, RBAC, configuration) and starting the modelguard controller as its ServiceAccount")
	if _, err := c.InstallModelguard(ctx, localcluster.ModelguardOptions{}); err != nil {
		return err
	}
	tk := tekton.NewForConfigOrDie(c.RESTConfig(localcluster.UserAdmin))
	names, err := runExamples(ctx, c, root, out)
	if err != nil {
		return err
	}
	if len(names) > 0 {
		step(out, "waiting for the example PipelineRuns")
		if err := report(ctx, tk, names, out); err != nil {
			return err
		}
	}
	step(out, "building a model-serving image (modelcar) into a local registry, no daemon, no root")
	registry, err := demoBuild(ctx, c, root, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `
The cluster keeps running. Look around with (kubectl was built at %s):
  export KUBECONFIG=%s
  kubectl get pipelineruns,customruns -n %s
  kubectl get events -n %s
  kubectl get networkpolicy,resourcequota,limitrange,rolebinding -n fraud-detection-dev
Try the personas with their own tokens:
  kubectl --kubeconfig %s -n fraud-detection-dev get secrets     # alice, data scientist: forbidden
  kubectl --kubeconfig %s -n fraud-detection-dev delete networkpolicy modelguard-default-deny   # carol, operator: forbidden
Check it yourself with the CLI:
  go run ./cmd/modelguard guard verify --namespace fraud-detection-dev --data-scientist-group modelguard:data-scientists \
    --ml-engineer-group modelguard:ml-engineers --operator-group modelguard:operators \
    --ingress openshift-router,monitoring,knative --egress 10.20.0.0/16:443 --quota gpu=1,inferenceservices=3
The demo registry is at %s (models/tiny-granite; ML-BOM in %s).
Logs: %s
Stop it with: make demo-stop
`, c.Tools.Kubectl, c.Kubeconfig(localcluster.UserAdmin), demoNamespace, demoNamespace,
		c.Kubeconfig(localcluster.UserAlice), c.Kubeconfig(localcluster.UserCarol),
		registry, filepath.Join(c.Dir, "demo-model", "mlbom.cdx.json"), filepath.Join(dir, "logs"))
	return nil
}

func step(out io.Writer, msg string) { fmt.Fprintf(out, "==> %s\n", msg) }

// runExamples creates the demo namespace and every example in it, and
// returns the names of the PipelineRuns created.
func runExamples(ctx context.Context, c *localcluster.Cluster, root string, out io.Writer) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		step(out, "examples/ has no PipelineRuns yet: the kinds arrive with their features")
		return nil, nil
	}
	if b, err := c.Kubectl(ctx, localcluster.UserAdmin, "create", "namespace", demoNamespace); err != nil && !strings.Contains(string(b), "AlreadyExists") {
		return nil, fmt.Errorf("create namespace: %w\n%s", err, b)
	}
	// The examples bind their hand-overs to the demo namespace's UID, as a
	// cluster admin would with kubectl annotate.
	uid, err := c.Kubectl(ctx, localcluster.UserAdmin, "get", "namespace", demoNamespace, "-o", "jsonpath={.metadata.uid}")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range files {
		step(out, "kubectl create -f examples/"+filepath.Base(f))
		y, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		f = filepath.Join(c.Dir, "examples", filepath.Base(f))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(f, bytes.ReplaceAll(y, []byte("UID-OF-"+demoNamespace), uid), 0o644); err != nil {
			return nil, err
		}
		b, err := c.Kubectl(ctx, localcluster.UserAdmin, "create", "-n", demoNamespace, "-f", f, "-o", "name")
		if err != nil {
			return nil, fmt.Errorf("create %s: %w\n%s", f, err, b)
		}
		for _, line := range strings.Fields(string(b)) {
			if strings.HasPrefix(line, "pipelinerun.tekton.dev/") {
				names = append(names, strings.TrimPrefix(line, "pipelinerun.tekton.dev/"))
			}
		}
	}
	return names, nil
}

// report waits for the PipelineRuns and prints each one's tasks with their
// outcome and results.
func report(ctx context.Context, tk tekton.Interface, names []string, out io.Writer) error {
	deadline := time.Now().Add(3 * time.Minute)
	for _, name := range names {
		var pr *pipelinev1.PipelineRun
		for {
			var err error
			pr, err = tk.TektonV1().PipelineRuns(demoNamespace).Get(ctx, name, metav1.GetOptions{})
			if err == nil && !pr.Status.GetCondition(apis.ConditionSucceeded).IsUnknown() {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("PipelineRun %s did not finish within 3 minutes", name)
			}
			time.Sleep(200 * time.Millisecond)
		}
		c := pr.Status.GetCondition(apis.ConditionSucceeded)
		fmt.Fprintf(out, "\nPipelineRun %s: %s (%s) in %s\n", name, c.Reason, c.Message, seconds(pr.Status.CompletionTime.Sub(pr.Status.StartTime.Time)))
		runs, err := tk.TektonV1beta1().CustomRuns(demoNamespace).List(ctx, metav1.ListOptions{LabelSelector: "tekton.dev/pipelineRun=" + name})
		if err != nil {
			return err
		}
		sort.Slice(runs.Items, func(i, j int) bool { return runs.Items[i].CreationTimestamp.Before(&runs.Items[j].CreationTimestamp) })
		for _, r := range runs.Items {
			rc := r.Status.GetCondition(apis.ConditionSucceeded)
			took := "-"
			if r.Status.CompletionTime != nil {
				took = seconds(r.Status.CompletionTime.Sub(r.CreationTimestamp.Time))
			}
			fmt.Fprintf(out, "  task %s (%s): %s in %s\n", r.Labels["tekton.dev/pipelineTask"], r.Spec.CustomRef.Kind, rc.Reason, took)
			if rc.IsFalse() {
				fmt.Fprintf(out, "    %s\n", rc.Message)
			}
			for _, x := range r.Status.Results {
				if x.Value == "" {
					continue
				}
				fmt.Fprintf(out, "    %-14s %s\n", x.Name+":", strings.ReplaceAll(x.Value, "\n", "\n"+strings.Repeat(" ", 19)))
			}
		}
	}
	return nil
}

// seconds prints an API timestamp difference; they have one-second
// resolution, so anything shorter is "<1s".
func seconds(d time.Duration) string {
	if d < time.Second {
		return "<1s"
	}
	return d.Round(time.Second).String()
}
