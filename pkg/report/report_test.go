package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

func sample(pass bool) Report {
	cve := Rule{ID: "CVE-2025-1", Name: "CVE-2025-1", SecuritySeverity: "9.8", HelpURI: "https://example.test/CVE-2025-1", Tags: []string{"security"}}
	return Report{Tool: "modelguard acs scan", Version: "v0.1.0", Subject: "registry.test/m@sha256:ab", Pass: pass,
		Reason: map[bool]string{false: "VulnerabilitiesFound"}[pass], Summary: "1 finding",
		Results: []Result{
			{Rule: cve, Level: Error, Message: "in torch", Location: "registry.test/m@sha256:ab", Failing: !pass},
			{Rule: cve, Level: Error, Message: "in torchvision", Location: "registry.test/m@sha256:ab", Failing: !pass},
			{Rule: Rule{ID: "Latest tag", Description: "d", SecuritySeverity: "n/a"}, Level: Note, Message: "m", Location: "x.yaml"},
		}}
}

func TestSARIF(t *testing.T) {
	var b bytes.Buffer
	if err := SARIF(&b, sample(false)); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID         string         `json:"id"`
						Properties map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Invocations []struct {
				Properties map[string]any `json:"properties"`
			} `json:"invocations"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Locations []any  `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-2.1.0") || run.Tool.Driver.Name != "modelguard acs scan" {
		t.Fatalf("header: %s", b.String())
	}
	if len(run.Tool.Driver.Rules) != 2 || len(run.Results) != 3 {
		t.Fatalf("want 2 rules (CVE declared once) and 3 results: %s", b.String())
	}
	for _, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID || len(r.Locations) != 1 {
			t.Errorf("result %+v", r)
		}
	}
	if got := run.Tool.Driver.Rules[0].Properties["security-severity"]; got != "9.8" {
		t.Errorf("security-severity = %v", got)
	}
	if _, ok := run.Tool.Driver.Rules[1].Properties["security-severity"]; ok {
		t.Error("a non-numeric security-severity must be left out: code scanning rejects it")
	}
	if got := run.Invocations[0].Properties["gate"]; got != "fail" {
		t.Errorf("gate = %v", got)
	}
	// No findings still gives valid arrays, not nulls.
	b.Reset()
	if err := SARIF(&b, Report{Tool: "t", Pass: true}); err != nil || !strings.Contains(b.String(), `"results": []`) || !strings.Contains(b.String(), `"rules": []`) {
		t.Errorf("empty report: %v %s", err, b.String())
	}
}

func TestJUnit(t *testing.T) {
	for _, pass := range []bool{true, false} {
		var b bytes.Buffer
		if err := JUnit(&b, sample(pass)); err != nil {
			t.Fatal(err)
		}
		var s struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Suite    struct {
				Cases []struct {
					Name    string `xml:"name,attr"`
					Failure *struct {
						Message string `xml:"message,attr"`
					} `xml:"failure"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal(b.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		wantFailures := map[bool]int{true: 0, false: 3}[pass] // two CVE cases + gate
		if s.Tests != 4 || s.Failures != wantFailures {
			t.Errorf("pass=%v: tests %d failures %d, want 4 and %d:\n%s", pass, s.Tests, s.Failures, wantFailures, b.String())
		}
		last := s.Suite.Cases[len(s.Suite.Cases)-1]
		if last.Name != "gate" || (last.Failure == nil) == !pass {
			t.Errorf("pass=%v: gate case %+v", pass, last)
		}
	}
	// A failed gate without findings (an incomplete scan) is still a failure.
	var b bytes.Buffer
	if err := JUnit(&b, Report{Tool: "t", Reason: "IncompleteScan", Summary: "partial <scan> & more"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `failures="1"`) || !strings.Contains(b.String(), "partial &lt;scan&gt; &amp; more") {
		t.Errorf("incomplete scan:\n%s", b.String())
	}
}
