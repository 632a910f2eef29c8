package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/deploy"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type deployOptions struct {
	*globalOptions
	deploy.Spec
	kubeconfig, publicKey, resultsDir string
	publicKeyDir                      string
	timeout, verifyTimeout            time.Duration
}

// deployResults are the model-deploy Task's results.
var deployResults = []string{"DEPLOYMENT", "SERVICE_URL", "SERVED_DIGEST", "VERIFIED", "summary"}

func newDeployCommand(g *globalOptions) *cobra.Command {
	o := &deployOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy a modelcar behind the demo model server and check that it answers",
		Long: `deploy applies a Deployment and a Service (server-side apply, field manager
modelguard) that copy /models out of --model-image and serve it with
modelguard serve from --server-image, waits until every replica's readiness
probe passes, and asks one replica for the digest of the files it serves.

With --public-key it first verifies, offline, that the model image carries a
cosign signature and an in-toto attestation made with that key (as Tekton
Chains makes them), waiting up to --verify-timeout for them to appear, and
refuses (exit 2) an image without them.

It is a smoke test of the image: real runtimes (vLLM, Triton) are deployed
through KServe.`,
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
	f.StringVar(&o.ServerImage, "server-image", "", "the modelguard image, repo@sha256:... (required)")
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
	verified := "not checked (no public key given)"
	if o.publicKey != "" {
		var err error
		if verified, err = o.verify(cmd.Context(), cmd.ErrOrStderr()); err != nil {
			return err
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	res, err := (&deploy.Engine{Kube: kube}).Run(cmd.Context(), o.Spec, o.timeout)
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("%s: %d/%d ready, serving %s (%d files, %s)", res.Deployment, res.Ready, o.Replicas, res.Served.Name, res.Served.Files, res.Served.Digest)
	if err := writeResults(o.resultsDir, map[string]string{"DEPLOYMENT": res.Deployment, "SERVICE_URL": res.ServiceURL,
		"SERVED_DIGEST": res.Served.Digest, "VERIFIED": verified, "summary": summary}); err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "verified: %s\n%s\nin-cluster URL: %s\n", verified, summary, res.ServiceURL)
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
