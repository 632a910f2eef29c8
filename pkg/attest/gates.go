package attest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelguard/modelguard/pkg/gate"
)

// Gate decisions as signed statements: the one place both doors (the
// ACS kinds and `modelguard acs`) turn a gate's report into what
// modelguard attests, so a CustomRun and a Task step sign the same thing.
// A gate that could not check (outcome error) decided nothing, and
// nothing is signed for it.

// ScannerURI names the scanner in the vuln predicate.
const ScannerURI = "https://www.stackrox.io"

// errUndecided: the gate could not check.
var errUndecided = errors.New("the gate could not check; nothing to attest")

// ScanPredicate is the vuln predicate of an ImageScan report: the
// scanner, its data source and version, every CVE found (blocking ones
// marked), and the gate's verdict.
func ScanPredicate(r gate.ScanReport, started, finished time.Time, inv Invocation) any {
	res := ScanResult{Verdict: string(r.Outcome), Reason: r.Reason, Summary: r.Message, Counts: r.Counts, Notes: r.Notes}
	blocking := map[string]bool{}
	for _, f := range r.Blocking {
		blocking[f.CVE+"\x00"+f.Component+"\x00"+f.Version] = true
	}
	for _, f := range r.Findings {
		res.CVEs = append(res.CVEs, ScanCVE{ID: f.CVE, Severity: f.Sev, CVSS: f.CVSS, Component: f.Component, Version: f.Version,
			FixedBy: f.FixedBy, Blocking: blocking[f.CVE+"\x00"+f.Component+"\x00"+f.Version]})
	}
	return VulnPredicate(Scan{ScannerURI: ScannerURI, ScannerVersion: r.ScannerVersion, DBURI: r.DataSource,
		Started: started, Finished: finished, Invocation: inv, Result: res})
}

// AttestScan attests an ImageScan report as a cosign vuln statement on the
// image the gate was asked about (by digest).
func (s *Signer) AttestScan(ctx context.Context, r gate.ScanReport, started, finished time.Time, inv Invocation, o WriteOptions) (string, error) {
	if r.Outcome != gate.Pass && r.Outcome != gate.Fail {
		return "", errUndecided
	}
	return s.Attest(ctx, r.Image, PredicateVuln, ScanPredicate(r, started, finished, inv), o)
}

// VerdictPredicate is modelguard's statement of a policy check (ImageCheck
// or DeploymentCheck): the verdict, the violated and breaking policies.
func VerdictPredicate(gateName string, r gate.DetectReport, checked time.Time, inv Invocation) Verdict {
	v := Verdict{Gate: gateName, Verdict: string(r.Outcome), Reason: r.Reason, Summary: r.Message,
		Violated: []string{}, Breaking: []string{}, CheckedOn: checked.UTC(), Invocation: inv}
	for _, p := range r.Violated {
		v.Violated = append(v.Violated, p.Name)
		if p.Breaking {
			v.Breaking = append(v.Breaking, p.Name)
		}
	}
	return v
}

// AttestImageCheck attests an ImageCheck verdict on the image.
func (s *Signer) AttestImageCheck(ctx context.Context, image string, r gate.DetectReport, checked time.Time, inv Invocation, o WriteOptions) (string, error) {
	if r.Outcome != gate.Pass && r.Outcome != gate.Fail {
		return "", errUndecided
	}
	return s.Attest(ctx, image, PredicateImageCheck, VerdictPredicate("ImageCheck", r, checked, inv), o)
}

// AttestDeploymentCheck attests a DeploymentCheck verdict on every image
// the manifests would run, pinned by digest (gate.ManifestImages): the
// verdict is about running them that way.
func (s *Signer) AttestDeploymentCheck(ctx context.Context, images []string, r gate.DetectReport, checked time.Time, inv Invocation, o WriteOptions) ([]string, error) {
	if r.Outcome != gate.Pass && r.Outcome != gate.Fail {
		return nil, errUndecided
	}
	p := VerdictPredicate("DeploymentCheck", r, checked, inv)
	var out []string
	for _, img := range images {
		ref, err := s.Attest(ctx, img, PredicateDeploymentCheck, p, o)
		if err != nil {
			return out, fmt.Errorf("attest the deployment check on %s: %w", img, err)
		}
		out = append(out, ref)
	}
	return out, nil
}

// Undecided reports whether err means the gate decided nothing (so there
// was nothing to sign), rather than that signing failed.
func Undecided(err error) bool { return errors.Is(err, errUndecided) }

// ReasonAttestation is the reason of a passed gate whose decision could
// not be signed.
const ReasonAttestation = "AttestationFailed"

// Sealed is a gate's verdict once signing it was tried (err is signing's
// error, nil when it worked or was not asked for). A gate that passed but
// whose decision could not be attested becomes an error: an unsigned pass
// must not look like a signed one to whoever verifies later. A gate that
// said no stays no, its message saying the attestation is missing.
func Sealed(v gate.Verdict, err error) gate.Verdict {
	switch {
	case err == nil || Undecided(err):
		return v
	case v.Passed():
		return gate.Verdict{Outcome: gate.Error, Reason: ReasonAttestation, Message: "the gate passed, but its decision could not be attested: " + err.Error()}
	}
	v.Message += "; its decision could not be attested: " + err.Error()
	return v
}
