package kinds

import (
	"context"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/gate"
)

// Attestor signs a gate kind's decision with the key of the run's
// namespace, when that namespace opted in (its Secret modelguard-signing
// is readable by the controller); in any other namespace nothing is
// signed and the gate answers as before.
type Attestor struct {
	Keys  *attest.NamespaceKeys
	Write attest.WriteOptions
}

// Write signs what write attests about the run's decision (pkg/attest's
// AttestScan, AttestImageCheck, AttestDeploymentCheck) and returns the
// verdict sealed by the outcome (attest.Sealed).
type Write func(ctx context.Context, s *attest.Signer, inv attest.Invocation, o attest.WriteOptions) error

// Seal signs a decided verdict (pass or fail) and returns it sealed.
func (a *Attestor) Seal(ctx context.Context, req Request, v gate.Verdict, write Write) gate.Verdict {
	if a == nil || a.Keys == nil || (v.Outcome != gate.Pass && v.Outcome != gate.Fail) {
		return v
	}
	s, err := a.Keys.OptedInSigner(ctx, req.Namespace)
	if err != nil || s == nil {
		return attest.Sealed(v, err)
	}
	inv := attest.Invocation{URI: "tekton.dev/v1beta1/CustomRun/" + req.Namespace + "/" + req.Name, Namespace: req.Namespace}
	return attest.Sealed(v, write(ctx, s, inv, a.Write))
}
