package gate

import (
	"context"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/acs"
)

// fakeCentral answers a scan with a fixed image: what a confused or
// hostile Central might send.
type fakeCentral struct {
	img *acs.Image
	err error
}

func (f fakeCentral) ScanImage(context.Context, acs.ScanRequest) (*acs.Image, error) {
	return f.img, f.err
}
func (f fakeCentral) DetectBuild(context.Context, acs.BuildRequest) (*acs.BuildDetectionResponse, error) {
	return &acs.BuildDetectionResponse{}, f.err
}
func (f fakeCentral) DetectDeployYAML(context.Context, acs.DeployRequest) (*acs.DeployDetectionResponse, error) {
	return &acs.DeployDetectionResponse{}, f.err
}

func cleanScanOf(id, platform string) *acs.Image {
	img := &acs.Image{ID: id, Scan: &acs.ImageScan{ScannerVersion: "4.9"}}
	if platform != "" {
		img.Metadata = &acs.ImageMetadata{V2: &acs.V2Metadata{Digest: platform}}
	}
	return img
}

func TestScanIsBoundToTheDigestAskedFor(t *testing.T) {
	asked := "quay.io/m/model@sha256:" + strings.Repeat("a", 64)
	other := "sha256:" + strings.Repeat("b", 64)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		img         *acs.Image
		acceptIndex bool
		pass        bool
		want        string
	}{
		"same digest":             {cleanScanOf("sha256:"+strings.Repeat("a", 64), ""), false, true, ""},
		"another image":           {cleanScanOf(other, ""), false, false, "not the sha256:aaaa"},
		"another image, index ok": {cleanScanOf(other, ""), true, false, "not the sha256:aaaa"},
		"platform of an index":    {cleanScanOf("sha256:"+strings.Repeat("a", 64), other), false, false, "set accept-index"},
		"index accepted":          {cleanScanOf("sha256:"+strings.Repeat("a", 64), other), true, true, ""},
	} {
		r := Scan(ctx, fakeCentral{img: tc.img}, ScanInput{Image: asked, AcceptIndex: tc.acceptIndex})
		if r.Passed() != tc.pass || (!tc.pass && (r.Reason != ReasonDigestMismatch || !strings.Contains(r.Message, tc.want))) {
			t.Errorf("%s: %+v", name, r.Verdict)
		}
		if got, _ := r.Results().Get("scanned-digest"); got != scannedDigest(tc.img) {
			t.Errorf("%s: scanned-digest = %q", name, got)
		}
	}
	// A tag (allow-tag) binds to nothing: the caller chose that.
	if r := Scan(ctx, fakeCentral{img: cleanScanOf(other, "")}, ScanInput{Image: "quay.io/m/model:1", AllowTag: true}); !r.Passed() {
		t.Errorf("allow-tag: %+v", r.Verdict)
	}
}

func TestUnratedCVEsBlock(t *testing.T) {
	vuln := func(cve string, sev acs.VulnerabilitySeverity, cvss float64) acs.Vulnerability {
		return acs.Vulnerability{CVE: cve, Severity: sev, CVSS: cvss}
	}
	img := &acs.Image{Scan: &acs.ImageScan{Components: []acs.ImageComponent{{Name: "torch", Version: "2.1", Vulns: []acs.Vulnerability{
		vuln("CVE-2026-1", "UNKNOWN_VULNERABILITY_SEVERITY", 9.8),
		vuln("CVE-2026-2", "SOMETHING_NEW_SEVERITY", 7.5),
		vuln("CVE-2026-3", "", 0),
		vuln("CVE-2026-4", acs.VulnSeverityLow, 2.0),
	}}}}}
	r := EvaluateScan(img, ScanPolicy{Threshold: Critical})
	if r.Passed() || r.Reason != ReasonVulnerabilities {
		t.Fatalf("unrated CVEs passed a CRITICAL gate: %+v", r.Verdict)
	}
	var blocking []string
	for _, f := range r.Blocking {
		blocking = append(blocking, f.CVE+"/"+f.Sev+"/"+f.RatedBy)
	}
	if want := "CVE-2026-1/CRITICAL/cvss CVE-2026-3/CRITICAL/unrated"; strings.Join(blocking, " ") != want {
		t.Errorf("blocking = %v, want %s", blocking, want)
	}
	if r.Counts["CRITICAL"] != 2 || r.Counts["IMPORTANT"] != 1 || r.Counts["LOW"] != 1 {
		t.Errorf("counts = %v: every CVE is counted", r.Counts)
	}
	if !strings.Contains(r.Message, "rated by cvss") {
		t.Errorf("message does not say how the CVE was rated: %s", r.Message)
	}
	// At LOW, the CVSS-rated IMPORTANT one blocks too.
	if r := EvaluateScan(img, ScanPolicy{Threshold: Low}); len(r.Blocking) != 4 {
		t.Errorf("LOW threshold: %d blocking", len(r.Blocking))
	}
}
