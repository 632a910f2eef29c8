package gate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
)

func fixtureImage(t *testing.T, name string) *acs.Image {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "acs", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := acs.DecodeImage(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestEvaluateScan(t *testing.T) {
	critical := fixtureImage(t, "scan-critical-cves-fixable-and-unfixable.json")
	clean := fixtureImage(t, "scan-clean-image.json")
	allowTorch := func(until string) []Allow {
		a, err := ParseAllow("CVE-2025-32434," + until + ",torch pinned by the serving runtime; upgrade scheduled")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := ParseAllow("CVE-2024-5535," + until + ",openssl rebuild pending")
		return []Allow{a, b}
	}
	for _, tc := range []struct {
		name   string
		img    *acs.Image
		policy ScanPolicy
		pass   bool
		reason string
		msg    string
	}{
		{"clean image passes", clean, ScanPolicy{Now: now}, true, "", "no CVE at or above CRITICAL"},
		{"critical fixable CVE fails, named", critical, ScanPolicy{Now: now}, false, ReasonVulnerabilities, "CVE-2025-32434 (CRITICAL, CVSS 9.8) in torch"},
		{"IMPORTANT threshold counts the unfixable glibc CVE", critical, ScanPolicy{Threshold: Important, Now: now, Allow: allowTorch("2027-01-31")}, false, ReasonVulnerabilities, "CVE-2026-0915"},
		{"fixable-only ignores the unfixable one", critical, ScanPolicy{Threshold: Important, FixableOnly: true, Now: now, Allow: allowTorch("2027-01-31")}, true, "", "except 2 allow-listed"},
		{"allow-list holds through its last day", critical, ScanPolicy{Now: time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC), Allow: allowTorch("2026-11-30")}, true, "", "except 2 allow-listed"},
		{"and not a day later", critical, ScanPolicy{Now: time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC), Allow: allowTorch("2026-11-30")}, false, ReasonVulnerabilities, "CVE-2025-32434"},
		{"no scan data is never clean", &acs.Image{}, ScanPolicy{Now: now}, false, ReasonNoScanData, "no scan data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := EvaluateScan(tc.img, tc.policy)
			if r.Passed() != tc.pass || r.Reason != tc.reason || !strings.Contains(r.Message, tc.msg) {
				t.Fatalf("pass=%v reason=%q message=%q; want pass=%v reason=%q containing %q", r.Passed(), r.Reason, r.Message, tc.pass, tc.reason, tc.msg)
			}
		})
	}
	r := EvaluateScan(critical, ScanPolicy{Now: now})
	if r.Counts["CRITICAL"] != 2 || r.Counts["IMPORTANT"] != 1 || r.Counts["MODERATE"] != 1 || r.FixableCounts["CRITICAL"] != 2 || r.FixableCounts["IMPORTANT"] != 0 {
		t.Fatalf("counts %v fixable %v", r.Counts, r.FixableCounts)
	}
	if r.ScannerVersion == "" || r.Findings[0].CVE != "CVE-2025-32434" {
		t.Fatalf("scanner %q, worst first: %+v", r.ScannerVersion, r.Findings[0])
	}
}

// A 200 whose scan carries notes (partial data, no OS) must not pass, even
// with nothing found: it may be missing exactly the CVEs that matter.
func TestPartialScanIsNeverClean(t *testing.T) {
	for _, note := range []acs.ScanNote{acs.ScanNotePartialScanData, acs.ScanNoteOSUnavailable, acs.ScanNoteOSCVEsStale, acs.ScanNoteLanguageCVEsUnavailable} {
		img := fixtureImage(t, "scan-clean-image.json")
		img.Scan.Notes = append(img.Scan.Notes, note)
		r := EvaluateScan(img, ScanPolicy{Now: now})
		if r.Passed() || r.Reason != ReasonIncompleteScan || !strings.Contains(r.Message, string(note)) {
			t.Errorf("%s: pass=%v reason=%q message=%q", note, r.Passed(), r.Reason, r.Message)
		}
	}
}

func TestParseAllow(t *testing.T) {
	a, err := ParseAllow("CVE-2024-3094, 2026-12-31, xz backdoor: not in our image, see ticket 42, really")
	if err != nil || a.CVE != "CVE-2024-3094" || a.Reason != "xz backdoor: not in our image, see ticket 42, really" || a.Expires.Format(time.DateTime) != "2026-12-31 23:59:59" {
		t.Fatalf("%+v %v", a, err)
	}
	for _, bad := range []string{"CVE-2024-3094", "CVE-2024-3094,2026-12-31,", "CVE-2024-3094,31/12/2026,reason", "log4shell,2026-12-31,reason"} {
		if _, err := ParseAllow(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEvaluateBuildAndDeploy(t *testing.T) {
	var fail, clean acs.BuildDetectionResponse
	decodeFixture(t, "detect-build-fail-build-violation.json", &fail)
	decodeFixture(t, "detect-build-clean.json", &clean)
	r := EvaluateBuild(&fail)
	if r.Passed() || r.Reason != ReasonBuildPolicy || !strings.Contains(r.Message, "Fixable Severity at least Important") {
		t.Fatalf("build: %+v", r)
	}
	if !r.Violated[0].Breaking || r.Violated[len(r.Violated)-1].Breaking {
		t.Fatalf("breaking policies first: %+v", r.Violated)
	}
	if r := EvaluateBuild(&clean); !r.Passed() {
		t.Fatalf("clean build: %+v", r)
	}
	var deploy acs.DeployDetectionResponse
	decodeFixture(t, "detect-deploy-yaml-violation.json", &deploy)
	d := EvaluateDeploy(&deploy)
	if d.Passed() || d.Reason != ReasonDeployPolicy || !strings.Contains(d.Message, "Privileged Container") {
		t.Fatalf("deploy: %+v", d)
	}
}

func decodeFixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "acs", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
