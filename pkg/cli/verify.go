package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// policyFlags are the VerifyImage policy, the same flags wherever an image
// is verified (verify, deploy), named as the VerifyImage kind's params.
type policyFlags struct {
	key, attestor                                          keyFlags
	builderID, buildTask, sourceRepo, sourceRev, namespace string
	gates                                                  []string
	maxScanAge                                             string
	wait                                                   string
}

func (p *policyFlags) register(f *pflag.FlagSet, wait string) {
	p.key.register(f, "key", "public key that signed the image and its build provenance (Tekton Chains' cosign.pub)")
	p.attestor.register(f, "attestor-key", "public key of modelguard's statements: scan, gate verdicts, pipeline provenance (default: --key)")
	f.StringVar(&p.builderID, "builder-id", "", "require build provenance by this builder, e.g. https://tekton.dev/chains/v2")
	f.StringVar(&p.buildTask, "build-task", "", "require that this Task built the image, e.g. model-image-build")
	f.StringVar(&p.sourceRepo, "source-repository", "", "require that the build names this git repository")
	f.StringVar(&p.sourceRev, "source-revision", "", "require that the build names this git commit")
	f.StringVar(&p.namespace, "pipeline-namespace", "", "require pipeline provenance from a pipeline in this namespace")
	f.StringArrayVar(&p.gates, "required-gate", nil, "require that this gate (pipeline task or kind, e.g. ImageScan) ran and passed in the pipeline (repeatable)")
	f.StringVar(&p.maxScanAge, "max-scan-age", "", "require a passed vulnerability scan no older than this, e.g. 24h or 7d")
	f.StringVar(&p.wait, "wait", wait, "how long to wait for a signature and build provenance to appear (Chains signs after the build), at most 1h")
}

// policy builds the engine's ImagePolicy for image and how long to wait
// for it, checked before anything is read.
func (p *policyFlags) policy(ctx context.Context, kubeconfig, image string) (attest.ImagePolicy, time.Duration, error) {
	ip := attest.ImagePolicy{Image: image, BuilderID: p.builderID, BuildTask: p.buildTask,
		SourceRepository: p.sourceRepo, SourceRevision: p.sourceRev, Namespace: p.namespace, RequiredGates: p.gates}
	wait, err := attest.ParseWait(p.wait)
	if err != nil {
		return ip, 0, fmt.Errorf("--wait %w", err)
	}
	if p.maxScanAge != "" {
		if ip.MaxScanAge, err = attest.ParseMaxAge(p.maxScanAge); err != nil {
			return ip, 0, fmt.Errorf("--max-scan-age %w", err)
		}
	}
	if !p.key.given() {
		return ip, 0, fmt.Errorf("--key (or --key-dir) is required")
	}
	if ip.Key, err = p.key.publicKey(ctx, kubeconfig); err != nil {
		return ip, 0, err
	}
	if p.attestor.given() {
		if ip.AttestorKey, err = p.attestor.publicKey(ctx, kubeconfig); err != nil {
			return ip, 0, err
		}
	}
	return ip, wait, nil
}

// await runs the VerifyImage engine, saying on log what it waits for.
func (p *policyFlags) await(ctx context.Context, ip attest.ImagePolicy, wait time.Duration, log io.Writer) (attest.ImageReport, error) {
	return attest.AwaitImage(ctx, ip, wait, 0, func(r attest.ImageReport) {
		fmt.Fprintf(log, "modelguard: %s: %s; waiting for it\n", r.Reason, r.Message)
	})
}

type verifyOptions struct {
	*globalOptions
	policyFlags
	image, kubeconfig, resultsDir string
}

func newVerifyCommand(g *globalOptions) *cobra.Command {
	o := &verifyOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "verify [-- GATE...]",
		Short: "Verify an image's signature, provenance and scan against a policy (the VerifyImage gate)",
		Long: `verify runs the VerifyImage gate, offline (no transparency log, no TUF),
with cosign's verification code. Each check runs when its flags are given:

  - the tag (given --image repo:tag@sha256:...) still names the digest;
  - a signature by --key (Tekton Chains' key);
  - the build provenance (SLSA v1, by --key): --builder-id, --build-task,
    --source-repository, --source-revision;
  - the pipeline provenance modelguard's controller wrote when the
    PipelineRun ended (by --attestor-key): --pipeline-namespace, and each
    --required-gate having run and passed; with build checks, the build
    TaskRun must be one of the pipeline's;
  - a passed vulnerability scan (by --attestor-key) no older than
    --max-scan-age.

Exit 0 when every check passes, 2 when one fails (the reason says which:
TagMoved, NotSigned, WrongKey, NoProvenance, WrongBuilder, WrongTask,
WrongSource, NoPipelineProvenance, WrongNamespace, NotFromPipeline,
GateMissing, GateFailed, NoScan, ScanFailed, ScanTooOld), 1 when it
could not check. Arguments after -- are more required gates (a Tekton array
param expands into them).`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.gates = append(o.gates, args...)
			err := o.run(cmd)
			var denied *DeniedError
			if err == nil || errors.As(err, &denied) {
				return err // the results are written
			}
			return fillResults(o.resultsDir, attest.ResultNames, err)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.image, "image", "i", "", "the image, repo@sha256:... or repo:tag@sha256:... (required)")
	o.policyFlags.register(f, "0s")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig, for a k8s:// key (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.StringVar(&o.resultsDir, "results-dir", "", "also write each result to a file here (a Tekton step passes /tekton/results)")
	return cmd
}

func (o *verifyOptions) run(cmd *cobra.Command) error {
	if o.image == "" {
		return fmt.Errorf("--image is required")
	}
	ip, wait, err := o.policy(cmd.Context(), o.kubeconfig, o.image)
	if err != nil {
		return err
	}
	rep, err := o.await(cmd.Context(), ip, wait, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if err := writeResults(o.resultsDir, rep.Results().Map()); err != nil {
		return err
	}
	if err := o.print(cmd.OutOrStdout(), imageReport{rep}); err != nil {
		return err
	}
	if !rep.Pass {
		return &DeniedError{Reason: rep.Reason + ": " + rep.Message}
	}
	return nil
}

type imageReport struct{ attest.ImageReport }

func (r imageReport) WriteText(w io.Writer) error {
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s %-19s %s\n", mark, c.Name, c.Detail)
	}
	verdict := "verified"
	if !r.Pass {
		verdict = "NOT verified: " + r.Reason
	}
	_, err := fmt.Fprintf(w, "%s: %s\n", r.Digest, verdict)
	return err
}
