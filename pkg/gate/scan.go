package gate

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/results"
)

// ScanInput is what the ImageScan gate is asked.
type ScanInput struct {
	Image    string // pinned by digest, unless AllowTag
	AllowTag bool
	// AcceptIndex: the image is a multi-arch index, and Central's scan of
	// the platform manifest it resolves stands for it.
	AcceptIndex bool
	Cluster     string // a secured cluster that scans (registries only it reaches)
	Policy      ScanPolicy
}

// Scan is the ImageScan gate: Central scans the image, and the scan is
// judged by in.Policy (EvaluateScan).
func Scan(ctx context.Context, c Central, in ScanInput) ScanReport {
	r := EvaluateScan(nil, in.Policy)
	r.Image = in.Image
	if err := CheckImageRef(in.Image, in.AllowTag); err != nil {
		r.Verdict = CouldNotRun(ReasonInput, fmt.Errorf("image %v", err))
		return r
	}
	img, err := c.ScanImage(ctx, acs.ScanRequest{Image: in.Image, Cluster: in.Cluster})
	if err != nil {
		r.Verdict = centralFailed("scan "+in.Image, err)
		return r
	}
	r = EvaluateScan(img, in.Policy)
	r.Image = in.Image
	if v, ok := bindScan(img, in.Image, in.AcceptIndex); !ok {
		r.Verdict = v
	}
	return r
}

// ScanResultNames are the results of ImageScan, in order.
var ScanResultNames = names(ScanReport{}.Results())

// Results are always all written: the outcome and reason, counts per
// severity (and fixable counts), the scanner, scan notes, the worst
// blocking CVEs and a summary.
func (r ScanReport) Results() results.Results {
	var rest results.Results
	for _, sev := range []string{"CRITICAL", "IMPORTANT", "MODERATE", "LOW"} {
		rest = append(rest, results.Result{Name: strings.ToLower(sev), Value: strconv.Itoa(r.Counts[sev])},
			results.Result{Name: "fixable-" + strings.ToLower(sev), Value: strconv.Itoa(r.FixableCounts[sev])})
	}
	var top []string
	for i, f := range r.Blocking {
		if i == 5 {
			top = append(top, fmt.Sprintf("… and %d more", len(r.Blocking)-5))
			break
		}
		top = append(top, fmt.Sprintf("%s %s %s@%s fixed:%s", f.CVE, f.Sev, f.Component, f.Version, orNone(f.FixedBy)))
	}
	rest = append(rest,
		results.Result{Name: "scanned-digest", Value: r.ScannedDigest},
		results.Result{Name: "scanner", Value: strings.TrimSpace(r.DataSource + " " + r.ScannerVersion)},
		results.Result{Name: "notes", Value: strings.Join(r.Notes, ",")},
		results.Result{Name: "top-cves", Value: results.Fit(strings.Join(top, "\n"), 1536)})
	return r.Verdict.results(rest...)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func names(rs results.Results) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}
