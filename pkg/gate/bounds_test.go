package gate

import (
	"context"
	"fmt"
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

// A param reaches a gate's message only quoted, at most 64 bytes of it,
// even when Central echoes it back in an error (cut and with its spaces
// collapsed, as the client cleans Central's text).
func TestParamsQuotedInMessages(t *testing.T) {
	image := "quay.io/m/model:" + strings.Repeat("t", 60<<10)
	category := "Vulnerability  Management " + strings.Repeat("c", 200)
	echo := fmt.Errorf("acs: POST /v1/images/scan: HTTP 400 Bad Request: invalid image name %s…; categories %s", image[:1000], strings.Join(strings.Fields(category), " "))
	ctx := context.Background()
	c := fakeCentral{err: echo}
	for name, v := range map[string]Verdict{
		"scan":   Scan(ctx, c, ScanInput{Image: image, AllowTag: true}).Verdict,
		"check":  CheckImage(ctx, c, ImageCheckInput{Image: image, AllowTag: true, Categories: []string{category}}).Verdict,
		"tagged": Scan(ctx, c, ScanInput{Image: image}).Verdict,
	} {
		if n := longestRun(v.Message, 't'); n > 64 {
			t.Errorf("%s: %d bytes of the image param in %q", name, n, v.Message)
		}
		if n := longestRun(v.Message, 'c'); n > 64 && name == "check" {
			t.Errorf("%s: %d bytes of the category param in the message", name, n)
		}
		if len(v.Message) > 600 {
			t.Errorf("%s: message is %d bytes", name, len(v.Message))
		}
	}
}

func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := range len(s) {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}
