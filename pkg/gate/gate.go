// Package gate decides whether an image or a deployment may go on, from
// what ACS Central answers. Each gate is one function — Scan, CheckImage,
// CheckDeployment — that both doors call: the custom-task kinds (a
// CustomRun, no pod) and `modelguard acs` (people, and the pod Tasks). So
// a CustomRun and a Task give the same outcome, reason and results for the
// same image, by construction.
//
// A gate asks Central through the small Central interface (*acs.Client
// satisfies it) and judges the answers with pure functions (EvaluateScan,
// EvaluateBuild, EvaluateDeploy); pkg/acs fetches, gate judges.
package gate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/imageref"
	"github.com/modelguard/modelguard/pkg/results"
)

// Central is what the gates ask ACS Central.
type Central interface {
	ScanImage(ctx context.Context, req acs.ScanRequest) (*acs.Image, error)
	DetectBuild(ctx context.Context, req acs.BuildRequest) (*acs.BuildDetectionResponse, error)
	DetectDeployYAML(ctx context.Context, req acs.DeployRequest) (*acs.DeployDetectionResponse, error)
}

var _ Central = (*acs.Client)(nil)

// Outcome is what a gate concluded. It is decided once, here, for every
// door:
//
//	pass   the gate checked, and the image or deployment may go on;
//	fail   the gate checked, and a policy says no (CLI exit 2);
//	error  the gate could not check — Central unreachable, credentials
//	       unusable, bad input (CLI exit 1). Never a pass.
//
// A CustomRun fails on both fail and error, with the reason; a Task step
// exits 2 or 1. Both publish every result, `gate` holding the outcome.
type Outcome string

const (
	Pass  Outcome = "pass"
	Fail  Outcome = "fail"
	Error Outcome = "error"
)

// Verdict is a gate's outcome with the reason (a CamelCase word a pipeline
// may branch on, empty on pass) and a one-line message for people.
type Verdict struct {
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason,omitempty"`
	Message string  `json:"message"`
}

// Passed reports whether the gate said go.
func (v Verdict) Passed() bool { return v.Outcome == Pass }

// Reasons a gate could not check.
const (
	// ReasonCentral: Central did not answer usably (after retries).
	ReasonCentral = "ACSCentralError"
	// ReasonCredentials: the Secret (or, for the CLI, the ROX_* settings)
	// naming Central and its token cannot be used.
	ReasonCredentials = "ACSSecretUnavailable"
	// ReasonInput: the request itself is wrong (an image reference, the
	// manifests); it names what.
	ReasonInput = "InvalidInput"
	// ReasonManifests: DeploymentCheck's manifests could not be read (a
	// ConfigMap, a file).
	ReasonManifests = "ManifestsUnavailable"
)

// CouldNotRun is the verdict of a gate that did not get to ask Central.
func CouldNotRun(reason string, err error) Verdict {
	return Verdict{Outcome: Error, Reason: reason, Message: err.Error()}
}

// CheckImageRef is the one rule for the image a gate is asked about: pinned
// by digest (imageref), unless allowTag says a tag is accepted.
func CheckImageRef(image string, allowTag bool) error {
	if image == "" {
		return errors.New("is required: the image, pinned by digest (repo@sha256:...)")
	}
	if _, err := imageref.Digest(image); err != nil && !allowTag {
		return fmt.Errorf("%v; a tag can move, and Central may answer from a scan of an older digest (allow-tag accepts it anyway)", err)
	}
	return nil
}

// Unreachable is a Central that cannot be asked because its credentials
// (a Secret, the CLI's ROX_* settings) cannot be used: err says why. A gate
// given it fails with ReasonCredentials and that message, like any other.
func Unreachable(err error) Central { return unreachable{err} }

type unreachable struct{ err error }

type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return e.err.Error() }

func (u unreachable) ScanImage(context.Context, acs.ScanRequest) (*acs.Image, error) {
	return nil, &credentialsError{u.err}
}

func (u unreachable) DetectBuild(context.Context, acs.BuildRequest) (*acs.BuildDetectionResponse, error) {
	return nil, &credentialsError{u.err}
}

func (u unreachable) DetectDeployYAML(context.Context, acs.DeployRequest) (*acs.DeployDetectionResponse, error) {
	return nil, &credentialsError{u.err}
}

// centralFailed is the verdict when Central's answer is an error: nothing
// was checked, unless Central says it has no scan data for the image,
// which is a "no" about the image itself.
func centralFailed(what string, err error) Verdict {
	var ce *credentialsError
	if errors.As(err, &ce) {
		return CouldNotRun(ReasonCredentials, ce.err)
	}
	if acs.IsMissingScanData(err) {
		return Verdict{Outcome: Fail, Reason: ReasonNoScanData, Message: fmt.Sprintf("%s: Central has no scan data for the image, so it cannot be passed: %v", what, err)}
	}
	return Verdict{Outcome: Error, Reason: ReasonCentral, Message: fmt.Sprintf("%s: %v", what, err)}
}

// outcomeResult is the `gate` result.
func (v Verdict) results(rest ...results.Result) results.Results {
	out := results.Results{{Name: "gate", Value: string(v.Outcome)}, {Name: "reason", Value: v.Reason}}
	if v.Outcome == Error {
		// Nothing was checked: no count or list may read as "none found".
		for i := range rest {
			rest[i].Value = ""
		}
	}
	out = append(out, rest...)
	return append(out, results.Result{Name: "summary", Value: results.Fit(oneLine(v.Message), 1024)})
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
