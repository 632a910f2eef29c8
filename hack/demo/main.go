// Command demo is `make demo`, the product's tour: a local cluster with a
// node, its registry, the modelguard controller, Tekton Chains, the ACS
// Central emulator, KServe and Tekton Triggers; a git server with the
// sample model; a signed GitHub push event to the EventListener; the
// PipelineRun it starts followed task by task; and a summary of what was
// built, scanned, checked, verified, guarded and served, with a curl that
// asks the served model. The cluster keeps running for a look around;
// `demo down` (make demo-stop) stops it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/modelguard/modelguard/test/gitserver"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/tools"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/apis"
)

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
	root := tools.RepoRoot()
	if root == "" {
		return errors.New("run the demo from inside the modelguard checkout")
	}
	begin := time.Now()
	tr := &tour{root: root}
	step(out, begin, "a local cluster: etcd, kube-apiserver, Tekton, a node (kubelet + containerd) and its registry (the first run builds them, ~20 min)")
	// Not detached: the node's network (pods to the apiserver, the registry
	// and the test servers) lives in this process, so the cluster stops
	// with the tour.
	c, err := localcluster.Start(ctx, localcluster.Config{Dir: dir, Node: true, Log: out})
	if err != nil {
		return err
	}
	defer c.Stop()
	tr.c, tr.kube = c, kubernetes.NewForConfigOrDie(c.RESTConfig(localcluster.UserAdmin))
	if err := c.ProvisionVolumes(ctx); err != nil {
		return err
	}
	step(out, begin, "modelguard: config/ applied, the controller running as its ServiceAccount, the modelguard image built with ko")
	if _, err := c.InstallModelguard(ctx, localcluster.ModelguardOptions{NoKServeStandIns: true}); err != nil {
		return err
	}
	if tr.modelguard, err = c.BuildModelguardImage(ctx); err != nil {
		return err
	}
	step(out, begin, "Tekton Chains (signs what the build pushes) and the ACS Central emulator (a test double of Central's API)")
	if tr.chains, err = c.InstallChains(ctx); err != nil {
		return err
	}
	if tr.central, err = startCentral(root, c); err != nil {
		return err
	}
	defer tr.central.Close()
	step(out, begin, "KServe "+tools.KServeVersion+" in RawDeployment mode, its pod webhook registered (it injects the modelcar)")
	if _, err := c.InstallKServe(ctx); err != nil {
		return err
	}
	tr.kserve = true
	step(out, begin, "a git server with the sample model committed to main")
	gitListener, err := c.PodListener()
	if err != nil {
		return err
	}
	if tr.git, err = gitserver.StartOn(filepath.Join(dir, "git"), gitListener); err != nil {
		return err
	}
	defer tr.git.Close()
	if err := tr.git.Create(modelName); err != nil {
		return err
	}
	tr.commit, err = tr.git.Commit(modelName, "main", "Add the tiny model", map[string]string{"README.md": "# tiny\nA sample model for the modelguard demo.\n"},
		map[string]string{"model": filepath.Join(root, "test", "pods", "testdata", "tiny-model")})
	if err != nil {
		return err
	}
	step(out, begin, "model-release 0.2, its Tasks, the serving namespace handed to the pipeline namespace")
	if err := tr.releaseSetUp(ctx); err != nil {
		return err
	}
	step(out, begin, "Tekton Triggers "+tools.TriggersVersion+" (controller, core interceptors over TLS) and config/triggers")
	triggers, err := c.InstallTriggers(ctx)
	if err != nil {
		return err
	}
	if err := tr.applyTriggers(ctx); err != nil {
		return err
	}
	el, err := triggers.RunEventListener(ctx, pipelinesNS, "model-release")
	if err != nil {
		return err
	}
	step(out, begin, "git push: the signed GitHub push event for "+tr.commit[:12]+" goes to the EventListener at "+el.URL)
	push := gitserver.Push{Repo: modelName, CloneURL: tr.git.RepoURL(modelName), Branch: "main", Before: gitserver.ZeroSHA,
		After: tr.commit, Message: "Add the tiny model", Pusher: "alice"}
	req, err := push.GitHubRequest(el.URL, githubSecret)
	if err != nil {
		return err
	}
	pushed := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Fprintf(out, "  the EventListener answered %s; X-Hub-Signature-256 checked by Triggers' github interceptor, main only by a CEL filter\n", resp.Status)
	tk := tekton.NewForConfigOrDie(c.RESTConfig(localcluster.UserAdmin))
	pr, children, err := follow(ctx, tk, pipelinesNS, tr.commit, pushed, out)
	if err != nil {
		return err
	}
	if cond := pr.Status.GetCondition(apis.ConditionSucceeded); !cond.IsTrue() {
		return fmt.Errorf("the release failed: %s; see kubectl -n %s get taskruns,customruns", cond.Message, pipelinesNS)
	}
	curl, answer, err := tr.curl(ctx)
	if err != nil {
		return err
	}
	summary(out, pr, children, tr.signed(ctx, tk, pr), tr.provenance(ctx, tk, pr), answer)
	fmt.Fprintf(out, `
Ask the model yourself:
  %s
Look around (kubectl was built at %s):
  export KUBECONFIG=%s
  kubectl -n %s get pipelineruns,taskruns,customruns
  kubectl -n %s get inferenceservice,deploy,pods,networkpolicy,resourcequota,rolebinding
Release the commit again with tkn (the Pipeline's defaults are this demo's; the cluster, the git server and
the ACS emulator live in the demo process, so keep it running with MODELGUARD_DEMO_WAIT=1 make demo):
  %s pipeline start model-release -n %s --use-param-defaults --skip-optional-workspace --showlog -w name=source,volumeClaimTemplateFile=pipelines/model-release/0.2/workspace-template.yaml -w name=cosign-pub,secret=chains-public-key -w name=acs-secret,secret=modelguard-acs --task-serviceaccount render=model-deploy --task-serviceaccount deploy=model-deploy
Logs: %s
The whole tour took %s. The cluster stops with the demo (MODELGUARD_DEMO_WAIT=1 keeps it until Ctrl-C).
`, curl, c.Tools.Kubectl, c.Kubeconfig(localcluster.UserAdmin), pipelinesNS, servingNS, c.Tools.Tkn, pipelinesNS,
		filepath.Join(dir, "logs"), time.Since(begin).Round(time.Second))
	if os.Getenv("MODELGUARD_DEMO_WAIT") == "1" {
		fmt.Fprintln(out, "MODELGUARD_DEMO_WAIT=1: the cluster, the git server and the ACS emulator keep running until Ctrl-C")
		<-ctx.Done()
	}
	return nil
}

func step(out io.Writer, begin time.Time, msg string) {
	d := time.Since(begin).Round(time.Second)
	fmt.Fprintf(out, "==> [%02d:%02d] %s\n", int(d.Minutes()), int(d.Seconds())%60, msg)
}
