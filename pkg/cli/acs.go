package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/spf13/cobra"
)

func newACSCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acs",
		Short: "Gate images with Red Hat Advanced Cluster Security (StackRox) Central",
		Long: `acs talks to ACS Central's API, as roxctl does, and gates on the answer with
the same rules as the ImageScan custom task. Central's address and token
come from ROX_ENDPOINT and ROX_API_TOKEN (ROX_CA_CERT_FILE for a private CA),
or from --secret-dir, a mounted Secret with files endpoint, token, ca.crt.`,
	}
	cmd.AddCommand(newACSScanCommand(g))
	return cmd
}

type acsScanOptions struct {
	*globalOptions
	image, severity, secretDir, resultsDir string
	fixableOnly, allowTag                  bool
	allow                                  []string
}

func newACSScanCommand(g *globalOptions) *cobra.Command {
	o := &acsScanOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Scan an image by digest and gate on severity, fixability and an allow-list",
		Long: `scan asks Central to scan an image and fails (exit 2) when a CVE at or above
--severity is found (only fixable ones with --fixable-only) that no unexpired
--allow entry covers, or when the scan is incomplete (notes such as
PARTIAL_SCAN_DATA): an incomplete scan is never reported clean.

-o json prints roxctl's result.summary shape, so existing jq scripts work.`,
		Args: cobra.NoArgs,
		RunE: o.run,
	}
	f := cmd.Flags()
	f.StringVarP(&o.image, "image", "i", "", "image pinned by digest, repo@sha256:... (required)")
	f.StringVar(&o.severity, "severity", "CRITICAL", "fail on CVEs at or above LOW, MODERATE, IMPORTANT or CRITICAL")
	f.BoolVar(&o.fixableOnly, "fixable-only", false, "only CVEs with a fixed version fail the gate")
	f.StringArrayVar(&o.allow, "allow", nil, "accepted CVE: CVE-ID,YYYY-MM-DD,reason (repeatable; expires after that day)")
	f.BoolVar(&o.allowTag, "allow-tag", false, "accept an image without a digest (not recommended)")
	f.StringVar(&o.secretDir, "secret-dir", "", "a mounted Secret with files endpoint, token and optional ca.crt")
	f.StringVar(&o.resultsDir, "results-dir", "", "also write gate, counts and summary result files here (a Tekton step passes /tekton/results)")
	return cmd
}

func (o *acsScanOptions) run(cmd *cobra.Command, _ []string) error {
	if o.image == "" {
		return fmt.Errorf("--image is required")
	}
	if !strings.Contains(o.image, "@sha256:") && !o.allowTag {
		return fmt.Errorf("--image %q has no digest; scan repo@sha256:... or pass --allow-tag", o.image)
	}
	policy := gate.ScanPolicy{FixableOnly: o.fixableOnly, Now: time.Now()}
	var err error
	if policy.Threshold, err = gate.ParseSeverity(o.severity); err != nil {
		return fmt.Errorf("--severity %v", err)
	}
	for _, a := range o.allow {
		allow, err := gate.ParseAllow(a)
		if err != nil {
			return fmt.Errorf("--allow %v", err)
		}
		policy.Allow = append(policy.Allow, allow)
	}
	cfg, err := o.config()
	if err != nil {
		return err
	}
	client, err := acs.New(cfg)
	if err != nil {
		return err
	}
	img, err := client.ScanImage(cmd.Context(), acs.ScanRequest{Image: o.image})
	if err != nil {
		return err
	}
	report := gate.EvaluateScan(img, policy)
	if o.resultsDir != "" {
		if err := writeScanResults(o.resultsDir, report); err != nil {
			return err
		}
	}
	if err := o.print(cmd.OutOrStdout(), scanOutput{report}); err != nil {
		return err
	}
	if !report.Pass {
		return &DeniedError{Reason: report.Reason + ": " + report.Message}
	}
	return nil
}

func (o *acsScanOptions) config() (acs.Config, error) {
	if o.secretDir == "" {
		return acs.ConfigFromEnv()
	}
	data := map[string][]byte{}
	for _, key := range []string{acs.SecretKeyEndpoint, acs.SecretKeyToken, acs.SecretKeyCACert, acs.SecretKeyInsecureSkipVerify} {
		b, err := os.ReadFile(filepath.Join(o.secretDir, key))
		if err == nil {
			data[key] = b
		} else if !os.IsNotExist(err) {
			return acs.Config{}, fmt.Errorf("--secret-dir: %s: %w", key, err)
		}
	}
	return acs.ConfigFromSecretData(data)
}

func writeScanResults(dir string, r gate.ScanReport) error {
	files := map[string]string{"gate": map[bool]string{true: "pass", false: "fail"}[r.Pass], "summary": r.Message}
	for sev, n := range r.Counts {
		files[strings.ToLower(sev)] = fmt.Sprint(n)
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			return fmt.Errorf("--results-dir: %w", err)
		}
	}
	return nil
}

// scanOutput prints a scan as a table, or as JSON in roxctl's
// result.summary / result.vulnerabilities shape.
type scanOutput struct{ gate.ScanReport }

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
	var vulns []vuln
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
		"gate":   map[string]any{"pass": s.Pass, "reason": s.Reason, "message": s.Message, "notes": s.Notes, "blocking": s.Blocking, "allowed": s.Allowed},
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
	verdict := "PASS"
	if !s.Pass {
		verdict = "FAIL (" + s.Reason + ")"
	}
	_, err := fmt.Fprintf(w, "\ngate: %s: %s\n", verdict, s.Message)
	return err
}
