package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelguard/modelguard/pkg/deploy"
	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

type deployOptions struct {
	*globalOptions
	deploy.Spec
	policyFlags
	kubeconfig, resultsDir string
	timeout                time.Duration
	render                 bool
	manifestsDir           string
}

// deployResults are the model-deploy Task's results.
var deployResults = []string{"TARGET", "MANIFESTS", "DEPLOYMENT", "SERVICE_URL", "SERVED_DIGEST", "MODELCAR", "VERIFIED", "summary"}

// manifestsResultLimit keeps MANIFESTS within a Tekton result (4 KiB by
// default, with room for the others).
const manifestsResultLimit = 3 << 10

func newDeployCommand(g *globalOptions) *cobra.Command {
	o := &deployOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy a modelcar (KServe InferenceService, or a plain Deployment) and check what it serves",
		Long: `deploy serves --model-image and proves what is served (server-side apply,
field manager modelguard). Where it goes (--target):

  kserve      an InferenceService (RawDeployment) with storageUri
              oci://<model image by digest> and the ServingRuntime --runtime;
              KServe's pod webhook injects the modelcar next to the runtime;
  deployment  a Deployment that copies /models out of --model-image and serves
              it with modelguard serve from --server-image, and a Service;
  auto        kserve where the cluster serves InferenceServices, else
              deployment (the default).

It waits until every replica's readiness probe passes and asks one replica
for the digest of the files it serves; under KServe it also checks that the
pod's modelcar container runs the model image. --render prints the objects
it would apply (and writes them to the MANIFESTS result) without applying:
what an ACS deployment check looks at first.

With --key (or --key-dir) it first runs the VerifyImage gate on the model
image, as modelguard verify does, with the same policy flags: a signature
by that key (as Tekton Chains makes it), and whatever build provenance,
pipeline provenance and scan the flags require, waiting up to --wait for
Chains to sign. An image that fails is not deployed (exit 2).

A ServingRuntime for modelguard serve is in
tasks/model-deploy/0.1/samples/servingruntime.yaml; real runtimes (vLLM,
Triton) are named the same way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.run(cmd); err != nil {
				var denied *DeniedError
				if errors.As(err, &denied) {
					err = fmt.Errorf("%s", denied.Reason)
					_ = fillResults(o.resultsDir, deployResults, err)
					return denied
				}
				return fillResults(o.resultsDir, deployResults, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.StringVarP(&o.Namespace, "namespace", "n", "", "namespace to deploy into (required)")
	f.StringVar(&o.Name, "name", "", "name of the Deployment, Service and model (required)")
	f.StringVar(&o.ModelImage, "model-image", "", "the modelcar, repo@sha256:... (required)")
	f.StringVar(&o.ServerImage, "server-image", "", "the modelguard image, repo@sha256:... (required for a Deployment)")
	f.StringVar(&o.Target, "target", deploy.TargetAuto, "where to deploy: auto, kserve or deployment")
	f.StringVar(&o.Runtime, "runtime", "", "the ServingRuntime an InferenceService names (required for kserve)")
	f.BoolVar(&o.render, "render", false, "print the objects that would be applied, apply nothing")
	f.StringVar(&o.manifestsDir, "manifests-dir", "", "with --render, also write them to manifests.yaml here (\"\" or an unbound optional workspace: nowhere)")
	f.Int32Var(&o.Port, "port", 8080, "port the server listens on")
	f.Int32Var(&o.Replicas, "replicas", 1, "replicas")
	o.policyFlags.register(f, "2m")
	f.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the replicas to be ready")
	f.StringVar(&o.resultsDir, "results-dir", "", "also write each result to a file here (a Tekton step passes /tekton/results)")
	return cmd
}

func (o *deployOptions) run(cmd *cobra.Command) error {
	o.Spec = o.Spec.WithDefaults()
	if err := o.Spec.Validate(); err != nil {
		return fmt.Errorf("--%v", err)
	}
	engine, err := o.engine()
	if err != nil {
		return err
	}
	if o.Target, err = engine.ResolveTarget(cmd.Context(), o.Target); err != nil {
		return err
	}
	if o.render {
		return o.writeRendered(cmd, engine)
	}
	verified := "not checked (no key given)"
	if o.key.given() {
		if verified, err = o.verify(cmd.Context(), cmd.ErrOrStderr()); err != nil {
			return err
		}
	}
	res, err := engine.Run(cmd.Context(), o.Spec, o.timeout)
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("%s: %d/%d ready, serving %s (%d files, %s)", res.Object, res.Ready, o.Replicas, res.Served.Name, res.Served.Files, res.Served.Digest)
	if res.Modelcar != "" {
		summary += " from modelcar " + res.Modelcar
	}
	if err := writeResults(o.resultsDir, map[string]string{"TARGET": o.Target, "MANIFESTS": "", "DEPLOYMENT": res.Deployment,
		"SERVICE_URL": res.ServiceURL, "SERVED_DIGEST": res.Served.Digest, "MODELCAR": res.Modelcar, "VERIFIED": verified, "summary": summary}); err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "verified: %s\n%s\nin-cluster URL: %s\n", verified, summary, res.ServiceURL)
	return err
}

func (o *deployOptions) engine() (*deploy.Engine, error) {
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &deploy.Engine{Kube: kube, Dynamic: dyn}, nil
}

// writeRendered prints what would be applied, as YAML documents, and
// writes it to the MANIFESTS result.
func (o *deployOptions) writeRendered(cmd *cobra.Command, engine *deploy.Engine) error {
	objs, err := engine.RenderWithRuntime(cmd.Context(), o.Spec)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, obj := range objs {
		y, err := compactManifest(obj)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	if b.Len() > manifestsResultLimit {
		return fmt.Errorf("the rendered manifests are %d bytes, more than a result holds (%d)", b.Len(), manifestsResultLimit)
	}
	summary := fmt.Sprintf("rendered %d object(s) for %s %s/%s", len(objs), o.Target, o.Namespace, o.Name)
	res := map[string]string{"TARGET": o.Target, "MANIFESTS": b.String(), "summary": summary}
	for _, n := range deployResults {
		if _, ok := res[n]; !ok {
			res[n] = ""
		}
	}
	if err := writeResults(o.resultsDir, res); err != nil {
		return err
	}
	if o.manifestsDir != "" {
		if err := os.WriteFile(filepath.Join(o.manifestsDir, "manifests.yaml"), []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("--manifests-dir: %w", err)
		}
	}
	_, err = fmt.Fprint(cmd.OutOrStdout(), b.String())
	return err
}

// verify runs the VerifyImage engine on the model image; a failed check
// is a "no" (exit 2).
func (o *deployOptions) verify(ctx context.Context, log io.Writer) (string, error) {
	ip, wait, err := o.policy(ctx, o.kubeconfig, o.ModelImage)
	if err != nil {
		return "", err
	}
	rep, err := o.await(ctx, ip, wait, log)
	if err != nil {
		return "", err
	}
	if !rep.Pass {
		return "", &DeniedError{Reason: rep.Reason + ": " + rep.Message}
	}
	return rep.Message, nil
}

// compactManifest is obj as one line of JSON (which YAML parsers read too)
// without what no policy looks at and the API server fills anyway (an
// empty status, a null creationTimestamp): the manifests must fit in a
// Tekton result beside the others, and indentation would not.
func compactManifest(obj any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	spec, _ := m["spec"].(map[string]any)
	if tmpl, ok := spec["template"].(map[string]any); ok {
		if md, ok := tmpl["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
	}
	b, err := json.Marshal(m)
	return append(b, '\n'), err
}
