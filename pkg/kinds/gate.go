package kinds

import (
	"context"

	"github.com/modelguard/modelguard/pkg/central"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/results"
)

// FromGate turns a gate's verdict into the Job's outcome. Every outcome
// publishes the results; a fail or an error fails the run with the
// gate's reason (and a retry, if the pipeline task asked for retries, may
// still pass). A run whose context ended reports that instead, so the
// reconciler can say cancelled or timed out.
func FromGate(ctx context.Context, v gate.Verdict, rs results.Results) (results.Results, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if v.Passed() {
		return rs, nil
	}
	return nil, &Failure{Reason: v.Reason, Message: v.Message, Results: rs}
}

// ACSParams are the params every ACS gate kind takes to reach Central.
func ACSParams(what string) []Param {
	return []Param{
		{Name: "acs-secret", Description: "Secret with endpoint and token, in this namespace (default " + central.DefaultSecret + ")"},
		{Name: "cluster", Description: "have this secured cluster " + what + " (for registries or context only it has)"},
	}
}

// ImageParams declares the image params both image kinds take.
func ImageParams(verb string) []Param {
	return []Param{
		{Name: "image", Required: true, Description: "image to " + verb + ", pinned by digest (repo@sha256:...)"},
		{Name: "allow-tag", Description: `"true": accept an image reference without a digest (not recommended)`},
	}
}

// Image reads the image params with the gates' one rule
// (gate.CheckImageRef), so a bad reference fails at once as InvalidParams.
func Image(v Values) (image string, allowTag bool, err error) {
	image = v.String("image", "")
	if allowTag, err = v.Bool("allow-tag", false); err != nil {
		return "", false, err
	}
	if err := gate.CheckImageRef(image, allowTag); err != nil {
		return "", false, Invalid("image", "%v", err)
	}
	return image, allowTag, nil
}
