package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/report"
)

// detectOutput is a build- or deploy-time policy check's answer.
type detectOutput struct {
	gate.DetectReport
	tool, subject string
}

func (d detectOutput) verdict() gate.Verdict { return d.Verdict }

// location is the file a violating object came from, for reports.
func (d detectOutput) location(p gate.ViolatedPolicy) string {
	if src, ok := d.Sources[p.Object]; ok {
		return src
	}
	return d.subject
}

// MarshalJSON follows roxctl's `image check -o json` / `deployment check
// -o json` shape: results per object with their violated policies, and a
// summary of counts per policy severity; the gate's verdict is added.
func (d detectOutput) MarshalJSON() ([]byte, error) {
	type result struct {
		Metadata         map[string]any        `json:"metadata"`
		Summary          map[string]int        `json:"summary"`
		ViolatedPolicies []gate.ViolatedPolicy `json:"violatedPolicies"`
	}
	total := map[string]int{"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0, "TOTAL": 0}
	var results []*result
	byObject := map[string]*result{}
	for _, p := range d.Violated {
		id := p.Object
		if id == "" {
			id = d.subject
		}
		r, ok := byObject[id]
		if !ok {
			r = &result{Metadata: map[string]any{"id": id, "additionalInfo": nil},
				Summary: map[string]int{"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0, "TOTAL": 0}}
			byObject[id] = r
			results = append(results, r)
		}
		r.ViolatedPolicies = append(r.ViolatedPolicies, p)
		r.Summary[p.Severity]++
		r.Summary["TOTAL"]++
		total[p.Severity]++
		total["TOTAL"]++
	}
	if results == nil {
		results = []*result{}
	}
	return json.Marshal(map[string]any{
		"results": results,
		"summary": total,
		"gate":    map[string]any{"outcome": d.Outcome, "pass": d.Passed(), "reason": d.Reason, "message": d.Message},
	})
}

func (d detectOutput) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Policy check results for: %s\n", d.subject)
	fmt.Fprintf(w, "(TOTAL: %d, BREAKING: %d)\n\n", len(d.Violated), breakingCount(d.Violated))
	if len(d.Violated) > 0 {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "POLICY\tSEVERITY\tBREAKS\tOBJECT\tVIOLATION\t")
		for _, p := range d.Violated {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t\n", p.Name, p.Severity, p.Breaking, dash(p.Object), dash(strings.Join(p.Violations, "; ")))
		}
		tw.Flush()
	}
	return writeVerdict(w, d.Verdict)
}

// policyScore ranks policy severities for code scanning, which sorts
// security results by a CVSS-like number.
var policyScore = map[string]string{"CRITICAL": "9.0", "HIGH": "7.0", "MEDIUM": "5.0", "LOW": "3.0"}

// Report gives one result per violated policy and object: breaking ones
// as errors, the rest as warnings.
func (d detectOutput) Report() report.Report {
	r := report.Report{Tool: d.tool, Version: currentVersion().Version, Subject: d.subject, Pass: d.Passed(), Reason: d.Reason, Summary: d.Message}
	for _, p := range d.Violated {
		desc := p.Description
		if p.Remediation != "" {
			desc = strings.TrimSpace(desc + "\n\nRemediation: " + p.Remediation)
		}
		msg := p.Name
		if p.Object != "" {
			msg += " in " + p.Object
		}
		if len(p.Violations) > 0 {
			msg += ": " + strings.Join(p.Violations, "; ")
		}
		level := report.Warning
		if p.Breaking {
			level = report.Error
		}
		r.Results = append(r.Results, report.Result{
			Rule: report.Rule{ID: p.Name, Name: p.Name, Description: desc, SecuritySeverity: policyScore[p.Severity],
				Tags: []string{"security", "policy", strings.ToLower(p.Severity)}},
			Level: level, Message: msg, Location: d.location(p), Failing: p.Breaking,
		})
	}
	return r
}

func breakingCount(v []gate.ViolatedPolicy) int {
	n := 0
	for _, p := range v {
		if p.Breaking {
			n++
		}
	}
	return n
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var _ gateOutput = detectOutput{}
var _ gateOutput = scanOutput{}
