package acscli

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/cli"
	"github.com/modelguard/modelguard/test/acsemulator"
)

const (
	log4j      = "quay.io/acme-ml/legacy-indexer@sha256:2c2865a162cf4358d20939a8134660e99f9b266587081be568ebed98c323a21b"
	noScanData = "quay.io/acme-ml/private-model@sha256:7e693dfd8e8352a4b0f6eda394c44dea76c98dda33ecd130776c280fe1509ea3"
)

// servingStack is the emulator's serving stack for the clean image.
var servingStack = acsemulator.ServingStack(clean, clean, false)

func deployment(privileged bool) string { return acsemulator.ServingDeployment(clean, privileged) }

func TestACSCheck(t *testing.T) {
	acs := startCentral(t)
	if code, out, errOut := acs.run("check", "-i", clean); code != cli.ExitOK || !strings.Contains(out, "gate: PASS") {
		t.Fatalf("clean: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := acs.run("check", "-i", log4j, "-o", "json")
	if code != cli.ExitDenied || !strings.Contains(errOut, "PolicyFailsBuild") || !strings.Contains(errOut, "log4j") {
		t.Fatalf("log4j: exit %d, stderr %q", code, errOut)
	}
	var roxctl struct {
		Results []struct {
			Metadata struct {
				ID string `json:"id"`
			} `json:"metadata"`
			Violated []struct {
				Name    string `json:"name"`
				Failing bool   `json:"failingCheck"`
			} `json:"violatedPolicies"`
		} `json:"results"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &roxctl); err != nil || len(roxctl.Results) != 1 || roxctl.Results[0].Metadata.ID != log4j || roxctl.Summary["CRITICAL"] < 1 {
		t.Fatalf("roxctl-shaped JSON: %v\n%s", err, out)
	}
	// Only the categories asked for: log4j's ban is Supply Chain Security.
	if code, _, errOut := acs.run("check", "-i", log4j, "--categories", "DevOps Best Practices,Docker CIS"); code != cli.ExitOK {
		t.Fatalf("categories filter: exit %d %s", code, errOut)
	}
	// Scanned first: an image Central has no data for is not waved through.
	results := t.TempDir()
	if code, _, errOut := acs.run("check", "-i", noScanData, "--results-dir", results); code != cli.ExitDenied || !strings.Contains(errOut, "NoScanData") {
		t.Fatalf("no scan data: exit %d %s", code, errOut)
	}
	if got := readResult(t, results, "gate"); got != "fail" {
		t.Errorf("no scan data: gate = %q", got)
	}
}

func TestACSDeploymentCheck(t *testing.T) {
	acs := startCentral(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("good/isvc.yaml", servingStack)
	write("good/deploy.yml", deployment(false))
	write("good/README.md", "not a manifest")
	bad := write("bad/deploy.yaml", deployment(true))

	if code, out, errOut := acs.run("deployment-check", "-f", filepath.Join(dir, "good")); code != cli.ExitOK || !strings.Contains(out, "gate: PASS") {
		t.Fatalf("restricted: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := acs.run("deployment-check", "-f", bad, "-o", "sarif")
	if code != cli.ExitDenied || !strings.Contains(errOut, "Privileged Container") {
		t.Fatalf("privileged: exit %d %s", code, errOut)
	}
	log := decodeSARIF(t, out)
	var failing []string
	for _, r := range log.Runs[0].Results {
		if r.Level == "error" {
			failing = append(failing, r.RuleID)
			if uri := r.Locations[0].PhysicalLocation.ArtifactLocation.URI; uri != bad {
				t.Errorf("%s located at %q, want the file %q", r.RuleID, uri, bad)
			}
		}
	}
	if strings.Join(failing, ",") != "Privileged Container" {
		t.Errorf("SARIF errors = %v, want [Privileged Container]", failing)
	}

	// stdin, and a clear error for what is not a manifest.
	var stdinOut strings.Builder
	if code := cli.ExecuteWithInput(append(acs.base("deployment-check"), "-f", "-"), strings.NewReader(deployment(false)), &stdinOut, &stdinOut); code != cli.ExitOK {
		t.Fatalf("stdin: exit %d\n%s", code, stdinOut.String())
	}
	notObject := write("junk.yaml", "just: a map\n")
	for name, tc := range map[string]struct {
		args         []string
		reason, want string
	}{
		"not an object": {[]string{"-f", notObject}, "InvalidInput", "junk.yaml: document 1 is not a Kubernetes object"},
		"missing file":  {[]string{"-f", filepath.Join(dir, "nope.yaml")}, "ManifestsUnavailable", "--file"},
		"no file":       {nil, "InvalidInput", "--file"},
	} {
		results := t.TempDir()
		code, _, errOut := acs.run(append([]string{"deployment-check", "--results-dir", results}, tc.args...)...)
		if code != cli.ExitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d %s", name, code, errOut)
		}
		if got := readResult(t, results, "reason"); got != tc.reason {
			t.Errorf("%s: reason = %q, want %q", name, got, tc.reason)
		}
		// Results are written even when the command could not run.
		if got := readResult(t, results, "gate"); got != "error" {
			t.Errorf("%s: gate = %q", name, got)
		}
		if got := readResult(t, results, "violated-policies"); got != "" {
			t.Errorf("%s: violated-policies = %q", name, got)
		}
	}
}

// The full report goes to a file in its own format, whatever -o prints.
func TestACSReportFile(t *testing.T) {
	acs := startCentral(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "report.xml")
	code, out, errOut := acs.run("scan", "-i", critical, "--report", report, "--report-format", "junit", "--results-dir", dir)
	if code != cli.ExitDenied || !strings.Contains(out, "gate: FAIL") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &suites); err != nil || suites.Failures == 0 || suites.Tests <= suites.Failures {
		t.Fatalf("JUnit report: %v\n%s", err, b)
	}
	var failed []string
	for _, c := range suites.Suites[0].Cases {
		if c.Failure != nil {
			failed = append(failed, c.Name)
		}
	}
	if !strings.Contains(strings.Join(failed, ","), "CVE-2025-32434") || failed[len(failed)-1] != "gate" {
		t.Errorf("failed cases = %v", failed)
	}
	if got := readResult(t, dir, "critical"); got != "2" {
		t.Errorf("critical = %q", got)
	}
	// A Central that cannot be reached still leaves every result written.
	acs.secret = t.TempDir()
	os.WriteFile(filepath.Join(acs.secret, "endpoint"), []byte("127.0.0.1:1"), 0o600)
	os.WriteFile(filepath.Join(acs.secret, "token"), []byte(token), 0o600)
	results := t.TempDir()
	if code, _, errOut := acs.run("scan", "-i", clean, "--results-dir", results); code != cli.ExitError || strings.Contains(errOut, token) || !strings.Contains(errOut, "retrying in") {
		t.Fatalf("unreachable: exit %d %s", code, errOut)
	}
	for _, name := range []string{"gate", "critical", "fixable-low", "scanner", "notes", "top-cves", "summary"} {
		if _, err := os.Stat(filepath.Join(results, name)); err != nil {
			t.Errorf("result %s not written: %v", name, err)
		}
	}
	if got := readResult(t, results, "gate"); got != "error" {
		t.Errorf("gate = %q", got)
	}
}

func TestACSOutputFlag(t *testing.T) {
	acs := startCentral(t)
	if code, _, errOut := acs.run("scan", "-i", clean, "-o", "xml"); code != cli.ExitError || !strings.Contains(errOut, "--output") {
		t.Errorf("-o xml: exit %d %s", code, errOut)
	}
	var out, errb strings.Builder
	if code := cli.Execute([]string{"version", "-o", "sarif"}, &out, &errb); code != cli.ExitError || !strings.Contains(errb.String(), "only the acs commands") {
		t.Errorf("version -o sarif: exit %d %s", code, errb.String())
	}
	if code, _, errOut := acs.run("scan", "-i", clean, "--report", "x", "--report-format", "pdf"); code != cli.ExitError || !strings.Contains(errOut, "--report-format") {
		t.Errorf("--report-format pdf: exit %d %s", code, errOut)
	}
	code, out2, _ := acs.run("scan", "-i", critical, "-o", "sarif")
	if code != cli.ExitDenied {
		t.Fatalf("exit %d", code)
	}
	log := decodeSARIF(t, out2)
	rules := map[string]bool{}
	for _, r := range log.Runs[0].Tool.Driver.Rules {
		if rules[r.ID] {
			t.Errorf("rule %s declared twice", r.ID)
		}
		rules[r.ID] = true
	}
	for _, r := range log.Runs[0].Results {
		if log.Runs[0].Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s points at rule %d", r.RuleID, r.RuleIndex)
		}
	}
}

type sarifLog struct {
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Rules []struct {
					ID string `json:"id"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex int    `json:"ruleIndex"`
			Level     string `json:"level"`
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
				} `json:"physicalLocation"`
			} `json:"locations"`
		} `json:"results"`
	} `json:"runs"`
}

func decodeSARIF(t *testing.T, s string) sarifLog {
	t.Helper()
	var log sarifLog
	if err := json.Unmarshal([]byte(s), &log); err != nil || log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("SARIF: %v\n%s", err, s)
	}
	return log
}

func readResult(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("result %s: %v", name, err)
	}
	return string(b)
}
