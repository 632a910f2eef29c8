package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/modelguard/modelguard/pkg/deploy"
	"github.com/spf13/cobra"
)

type deployOptions struct {
	*globalOptions
	deploy.Spec
	policyFlags
	kubeconfig, resultsDir string
	timeout                time.Duration
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

With --key (or --key-dir) it first runs the VerifyImage gate on the model
image, as modelguard verify does, with the same policy flags: a signature
by that key (as Tekton Chains makes it), and whatever build provenance,
pipeline provenance and scan the flags require, waiting up to --wait for
Chains to sign. An image that fails is not deployed (exit 2).

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
	o.policyFlags.register(f, 2*time.Minute)
	f.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the replicas to be ready")
	f.StringVar(&o.resultsDir, "results-dir", "", "also write each result to a file here (a Tekton step passes /tekton/results)")
	return cmd
}

func (o *deployOptions) run(cmd *cobra.Command) error {
	o.Spec = o.Spec.WithDefaults()
	if err := o.Spec.Validate(); err != nil {
		return fmt.Errorf("--%v", err)
	}
	verified := "not checked (no key given)"
	if o.key.given() {
		var err error
		if verified, err = o.verify(cmd.Context(), cmd.ErrOrStderr()); err != nil {
			return err
		}
	}
	kube, err := kubeClient(o.kubeconfig)
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

// verify runs the VerifyImage engine on the model image; a failed check
// is a "no" (exit 2).
func (o *deployOptions) verify(ctx context.Context, log io.Writer) (string, error) {
	ip, err := o.policy(ctx, o.kubeconfig, o.ModelImage)
	if err != nil {
		return "", err
	}
	rep, err := o.await(ctx, ip, log)
	if err != nil {
		return "", err
	}
	if !rep.Pass {
		return "", &DeniedError{Reason: rep.Reason + ": " + rep.Message}
	}
	return rep.Message, nil
}
