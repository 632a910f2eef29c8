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

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/deploy"
	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type deployOptions struct {
	*globalOptions
	deploy.Spec
	kubeconfig, publicKey, resultsDir string
	publicKeyDir                      string
	timeout, verifyTimeout            time.Duration
	render                            bool
	manifestsDir                      string
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

With --public-key it first verifies, offline, that the model image carries a
cosign signature and an in-toto attestation made with that key (as Tekton
Chains makes them), waiting up to --verify-timeout for them to appear, and
refuses (exit 2) an image without them.

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
	f.StringVar(&o.publicKey, "public-key", "", "cosign public key (PEM file): verify the model image's signature and attestation first")
	f.StringVar(&o.publicKeyDir, "public-key-dir", "", "a mounted Secret holding cosign.pub (as cosign generate-key-pair k8s:// makes it); given but empty (an unbound optional Task workspace) means no check")
	f.DurationVar(&o.verifyTimeout, "verify-timeout", 2*time.Minute, "how long to wait for the signature and attestation to appear (Chains signs after the build)")
	f.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the replicas to be ready")
	f.StringVar(&o.resultsDir, "results-dir", "", "also write each result to a file here (a Tekton step passes /tekton/results)")
	return cmd
}

func (o *deployOptions) run(cmd *cobra.Command) error {
	o.Spec = o.Spec.WithDefaults()
	if err := o.Spec.Validate(); err != nil {
		return fmt.Errorf("--%v", err)
	}
	if o.publicKeyDir != "" {
		if o.publicKey != "" {
			return fmt.Errorf("--public-key and --public-key-dir: give one")
		}
		o.publicKey = filepath.Join(o.publicKeyDir, "cosign.pub")
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
	verified := "not checked (no public key given)"
	if o.publicKey != "" {
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
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
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

// verify waits for a signature and an attestation that verify with the
// key (attest.Await); one that does not verify, or none within the
// timeout, is a "no" (exit 2).
func (o *deployOptions) verify(ctx context.Context, log io.Writer) (string, error) {
	key, err := os.ReadFile(o.publicKey)
	if err != nil {
		return "", fmt.Errorf("--public-key: %w", err)
	}
	v, err := attest.Await(ctx, o.ModelImage, attest.VerifyOptions{PublicKey: key}, o.verifyTimeout, 0, func(err error) {
		fmt.Fprintf(log, "modelguard: %v; waiting for it\n", err)
	})
	switch {
	case errors.Is(err, attest.ErrWrongKey), errors.Is(err, attest.ErrNotSigned), errors.Is(err, attest.ErrNotAttested):
		return "", &DeniedError{Reason: "NotVerified: " + err.Error()}
	case err != nil:
		return "", err
	}
	return fmt.Sprintf("%d signature(s) and %d attestation(s) (%s) verified with %s", v.Signatures, len(v.Attestations), v.Attestations[0].PredicateType, filepath.Base(o.publicKey)), nil
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
