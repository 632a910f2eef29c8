package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/report"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/spf13/cobra"
)

type acsScanOptions struct {
	acsOptions
	image, severity       string
	fixableOnly, allowTag bool
	acceptIndex           bool
	allow                 []string
}

func newACSScanCommand(g *globalOptions) *cobra.Command {
	o := &acsScanOptions{acsOptions: acsOptions{globalOptions: g}}
	cmd := &cobra.Command{
		Use:   "scan -i IMAGE [flags] [-- ALLOW...]",
		Short: "Scan an image by digest and gate on severity, fixability and an allow-list",
		Long: `scan asks Central to scan an image and fails (exit 2) when a CVE at or above
--severity is found (only fixable ones with --fixable-only) that no unexpired
--allow entry covers, or when the scan is incomplete (notes such as
PARTIAL_SCAN_DATA): an incomplete scan is never reported clean.

Arguments after -- are more allow-list entries, so a Tekton array param
can be passed as $(params.allow[*]).

-o json prints roxctl's result.summary shape, so existing jq scripts work.`,
		Annotations: map[string]string{formalOutput: "yes"},
		RunE:        o.runE(func(v gate.Verdict) results.Results { return gate.ScanReport{Verdict: v}.Results() }, o.scan),
	}
	f := cmd.Flags()
	f.StringVarP(&o.image, "image", "i", "", "image pinned by digest, repo@sha256:... (required)")
	f.StringVar(&o.severity, "severity", "CRITICAL", "fail on CVEs at or above LOW, MODERATE, IMPORTANT or CRITICAL")
	f.BoolVar(&o.fixableOnly, "fixable-only", false, "only CVEs with a fixed version fail the gate")
	f.StringArrayVar(&o.allow, "allow", nil, "accepted CVE: CVE-ID,YYYY-MM-DD,reason (repeatable; expires after that day)")
	f.BoolVar(&o.allowTag, "allow-tag", false, "accept an image without a digest (not recommended)")
	f.BoolVar(&o.acceptIndex, "accept-index", false, "the image is a multi-arch index: accept Central's scan of the platform manifest it resolves")
	o.flags(f)
	return cmd
}

func (o *acsScanOptions) scan(cmd *cobra.Command, args []string) error {
	if cmd.ArgsLenAtDash() != 0 && len(args) > 0 {
		return fmt.Errorf("unexpected argument %q: allow-list entries go after --", args[0])
	}
	in, err := o.input(args)
	if err != nil {
		return err
	}
	if err := o.resolveReport(cmd); err != nil {
		return err
	}
	return o.finish(cmd.OutOrStdout(), scanOutput{gate.Scan(cmd.Context(), o.central(cmd.ErrOrStderr()), in)})
}

func (o *acsScanOptions) input(extraAllow []string) (gate.ScanInput, error) {
	in := gate.ScanInput{Image: o.image, AllowTag: o.allowTag, AcceptIndex: o.acceptIndex, Cluster: o.cluster,
		Policy: gate.ScanPolicy{FixableOnly: o.fixableOnly, Now: time.Now()}}
	if err := gate.CheckImageRef(o.image, o.allowTag); err != nil {
		return in, fmt.Errorf("--image %v", err)
	}
	var err error
	if in.Policy.Threshold, err = gate.ParseSeverity(o.severity); err != nil {
		return in, fmt.Errorf("--severity %v", err)
	}
	for _, a := range append(o.allow, extraAllow...) {
		if strings.TrimSpace(a) == "" {
			continue // an empty Tekton array element
		}
		allow, err := gate.ParseAllow(a)
		if err != nil {
			return in, fmt.Errorf("--allow %v", err)
		}
		in.Policy.Allow = append(in.Policy.Allow, allow)
	}
	return in, nil
}

// scanOutput prints a scan as a table, or as JSON in roxctl's
// result.summary / result.vulnerabilities shape.
type scanOutput struct{ gate.ScanReport }

func (s scanOutput) verdict() gate.Verdict { return s.Verdict }

func (s scanOutput) MarshalJSON() ([]byte, error) {
	type vuln struct {
		CVE       string  `json:"cveId"`
		Severity  string  `json:"cveSeverity"`
		CVSS      float64 `json:"cveCVSS"`
		Info      string  `json:"cveInfo"`
		Component string  `json:"componentName"`
		Version   string  `json:"componentVersion"`
		Fixed     string  `json:"componentFixedVersion"`
	}
	summary := map[string]int{}
	components := map[string]bool{}
	for _, sev := range []string{"CRITICAL", "IMPORTANT", "MODERATE", "LOW"} {
		summary[sev] = s.Counts[sev]
	}
	vulns := []vuln{}
	unique := map[string]bool{}
	for _, f := range s.Findings {
		vulns = append(vulns, vuln{f.CVE, f.Sev, f.CVSS, f.Link, f.Component, f.Version, f.FixedBy})
		unique[f.CVE] = true
		components[f.Component+"@"+f.Version] = true
	}
	summary["TOTAL-VULNERABILITIES"] = len(unique)
	summary["TOTAL-COMPONENTS"] = len(components)
	return json.Marshal(map[string]any{
		"result": map[string]any{"summary": summary, "vulnerabilities": vulns},
		"gate":   map[string]any{"outcome": s.Outcome, "pass": s.Passed(), "reason": s.Reason, "message": s.Message, "notes": s.Notes, "blocking": s.Blocking, "allowed": s.Allowed},
	})
}

func (s scanOutput) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Scan results for image: %s (scanner %s %s)\n", s.Image, s.DataSource, s.ScannerVersion)
	fmt.Fprintf(w, "(CRITICAL: %d, IMPORTANT: %d, MODERATE: %d, LOW: %d)\n\n", s.Counts["CRITICAL"], s.Counts["IMPORTANT"], s.Counts["MODERATE"], s.Counts["LOW"])
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tVERSION\tCVE\tSEVERITY\tCVSS\tFIXED_VERSION\t")
	for _, f := range s.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%s\t\n", f.Component, f.Version, f.CVE, f.Sev, f.CVSS, f.FixedBy)
	}
	tw.Flush()
	return writeVerdict(w, s.Verdict)
}

// Report lists every finding: those that failed the gate as errors, the
// rest by severity, allow-listed ones with their reason and expiry.
func (s scanOutput) Report() report.Report {
	r := report.Report{Tool: "modelguard acs scan", Version: currentVersion().Version, Subject: s.Image, Pass: s.Passed(), Reason: s.Reason, Summary: s.Message}
	blocking, allowed := map[string]bool{}, map[string]gate.Finding{}
	for _, f := range s.Blocking {
		blocking[findingKey(f)] = true
	}
	for _, f := range s.Allowed {
		allowed[findingKey(f)] = f
	}
	for _, f := range s.Findings {
		res := report.Result{
			Rule: report.Rule{ID: f.CVE, Name: f.CVE, HelpURI: f.Link, SecuritySeverity: fmt.Sprintf("%.1f", f.CVSS),
				Description: fmt.Sprintf("%s vulnerability (CVSS %.1f)", f.Sev, f.CVSS),
				Tags:        []string{"security", "vulnerability", strings.ToLower(f.Sev)}},
			Level: report.Note, Message: findingText(f), Location: s.Image, Failing: blocking[findingKey(f)],
		}
		switch {
		case res.Failing:
			res.Level = report.Error
		case f.Severity >= gate.Important:
			res.Level = report.Warning
		}
		if a, ok := allowed[findingKey(f)]; ok {
			res.Message += fmt.Sprintf("; allow-listed until %s: %s", a.AllowedUntil, a.AllowReason)
		}
		r.Results = append(r.Results, res)
	}
	return r
}

func findingKey(f gate.Finding) string { return f.CVE + "\x00" + f.Component + "\x00" + f.Version }

func findingText(f gate.Finding) string {
	s := fmt.Sprintf("%s (%s, CVSS %.1f) in %s %s", f.CVE, f.Sev, f.CVSS, f.Component, f.Version)
	if f.FixedBy != "" {
		return s + ", fixed in " + f.FixedBy
	}
	return s + ", no fix yet"
}

func writeVerdict(w io.Writer, v gate.Verdict) error {
	verdict := strings.ToUpper(string(v.Outcome))
	if v.Reason != "" {
		verdict += " (" + v.Reason + ")"
	}
	_, err := fmt.Fprintf(w, "\ngate: %s: %s\n", verdict, v.Message)
	return err
}
