package gate

import (
	"context"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/acs"
)

// An answer the client refused for its size is an error outcome naming
// ACSResponseTooLarge, from every gate, with no count that reads as "none
// found": nothing was checked.
func TestAnswerTooLargeIsAnError(t *testing.T) {
	_, err := acs.DecodeImage(strings.NewReader(`{"scan":{"components":[{"vulns":[{}` + strings.Repeat(`,{}`, 200_000) + `]}]}}`))
	if !acs.IsTooLarge(err) {
		t.Fatalf("hostile scan decoded: %v", err)
	}
	c := fakeCentral{err: err}
	image := "quay.io/m/model@sha256:" + strings.Repeat("a", 64)
	ctx := context.Background()
	scan := Scan(ctx, c, ScanInput{Image: image})
	check := CheckImage(ctx, c, ImageCheckInput{Image: image})
	deploy := CheckDeployment(ctx, c, DeploymentCheckInput{Manifests: []Manifest{{Source: "d.yaml",
		YAML: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n"}}})
	for name, v := range map[string]Verdict{"scan": scan.Verdict, "check": check.Verdict, "deploy": deploy.Verdict} {
		if v.Outcome != Error || v.Reason != ReasonTooLarge || !strings.Contains(v.Message, "more than 100000 elements") {
			t.Errorf("%s: %+v", name, v)
		}
	}
	if got, _ := scan.Results().Get("critical"); got != "" {
		t.Errorf("critical = %q on an answer never read", got)
	}
}
