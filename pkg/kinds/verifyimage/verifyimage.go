// Package verifyimage is the VerifyImage custom-task kind: check an image's
// signature, its build provenance, the provenance of the pipeline that
// made it and its scan against a policy, offline, without a pod.
package verifyimage

import (
	"context"
	"errors"
	"time"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

// ReasonKeyUnavailable is the failure reason when a key the run names no
// value for cannot be read from the namespace's Secret.
const ReasonKeyUnavailable = "SigningKeyUnavailable"

// Kind is VerifyImage.
type Kind struct {
	// Keys reads the namespace's attestor key when the run names none.
	Keys *attest.NamespaceKeys
	Now  func() time.Time
	// Poll is how often a run waiting for Chains looks again (default 2s).
	Poll time.Duration
}

func (*Kind) Name() string { return "VerifyImage" }

func (*Kind) Params() []kinds.Param {
	return []kinds.Param{
		{Name: "image", Required: true, Description: "repo@sha256:..., or repo:tag@sha256:... to also require that the tag still names it"},
		{Name: "public-key", MaxBytes: 8 << 10, Description: "PEM public key that signed the image and its build provenance (Tekton Chains' cosign.pub); default: cosign.pub of Secret " + attest.ChainsKeySecret + " in this namespace"},
		{Name: "attestor-key", MaxBytes: 8 << 10, Description: "PEM public key of modelguard's statements (scan, verdicts, pipeline provenance); default: cosign.pub of Secret " + attest.SigningSecret + " in this namespace"},
		{Name: "builder-id", Description: "the build provenance's builder id, e.g. https://tekton.dev/chains/v2"},
		{Name: "build-task", Description: "the Task that must have built the image, e.g. model-image-build"},
		{Name: "source-repository", Description: "the git repository the build must name"},
		{Name: "source-revision", Description: "the git commit the build must name"},
		{Name: "namespace", Description: "the namespace the pipeline must have run in"},
		{Name: "required-gates", Type: v1beta1.ParamTypeArray, Description: "pipeline tasks or kinds (ImageScan, ImageCheck) that must have run and passed"},
		{Name: "max-scan-age", Description: "require a passed vulnerability scan no older than this (e.g. 24h or 7d)"},
		{Name: "wait", Description: "how long to wait for a signature and build provenance to appear (Chains signs after the build; default 2m, at most 1h)"},
	}
}

// Plan checks params without I/O.
func (k *Kind) Plan(req kinds.Request) (kinds.Job, error) {
	v := req.Params
	p := attest.ImagePolicy{
		Image: v.String("image", ""), Key: []byte(v.String("public-key", "")), AttestorKey: []byte(v.String("attestor-key", "")),
		BuilderID: v.String("builder-id", ""), BuildTask: v.String("build-task", ""),
		SourceRepository: v.String("source-repository", ""), SourceRevision: v.String("source-revision", ""),
		Namespace: v.String("namespace", ""), RequiredGates: v.Array("required-gates"), Now: k.Now,
	}
	var errs []error
	if err := attest.CheckImageRef(p.Image); err != nil {
		errs = append(errs, kinds.Invalid("image", "%v", err))
	}
	if len(p.Key) > 0 {
		if err := attest.CheckPublicKey(p.Key); err != nil {
			errs = append(errs, kinds.Invalid("public-key", "%v", err))
		}
	}
	if len(p.AttestorKey) > 0 {
		if err := attest.CheckPublicKey(p.AttestorKey); err != nil {
			errs = append(errs, kinds.Invalid("attestor-key", "%v", err))
		}
	}
	if s := v.String("max-scan-age", ""); s != "" {
		d, err := attest.ParseMaxAge(s)
		if err != nil {
			errs = append(errs, kinds.Invalid("max-scan-age", "%v", err))
		}
		p.MaxScanAge = d
	}
	wait := 2 * time.Minute
	if s := v.String("wait", ""); s != "" {
		d, err := attest.ParseWait(s)
		if err != nil {
			errs = append(errs, kinds.Invalid("wait", "%v", err))
		}
		wait = d
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (results.Results, error) { return k.run(ctx, req.Namespace, p, wait) }, nil
}

func (k *Kind) run(ctx context.Context, ns string, p attest.ImagePolicy, wait time.Duration) (results.Results, error) {
	if len(p.Key) == 0 {
		pub, err := k.Keys.ChainsKey(ctx, ns)
		if err != nil {
			return nil, kinds.Deny(ReasonKeyUnavailable, nil, "public key: %v; give public-key, or bind ClusterRole %s in namespace %s", err, attest.ChainsKeyReader, ns)
		}
		p.Key = pub
	}
	if len(p.AttestorKey) == 0 && k.needsAttestor(p) {
		pub, err := k.Keys.PublicKey(ctx, ns)
		if err != nil {
			return nil, kinds.Deny(ReasonKeyUnavailable, nil, "attestor key: %v; give attestor-key, or bind ClusterRole %s in namespace %s", err, attest.SigningSecretReader, ns)
		}
		p.AttestorKey = pub
	}
	rep, err := attest.AwaitImage(ctx, p, wait, k.Poll, nil)
	if err != nil {
		return nil, err
	}
	res := rep.Results()
	if !rep.Pass {
		return nil, kinds.Deny(rep.Reason, res, "%s", results.Fit(rep.Message, 1000))
	}
	return res, nil
}

// needsAttestor: only the pipeline and scan checks read modelguard's
// statements; a signature-only policy needs no Secret.
func (k *Kind) needsAttestor(p attest.ImagePolicy) bool {
	return p.Namespace != "" || len(p.RequiredGates) > 0 || p.MaxScanAge > 0
}
