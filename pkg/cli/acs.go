package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/report"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newACSCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acs",
		Short: "Gate images and manifests with Red Hat Advanced Cluster Security (StackRox) Central",
		Long: `acs talks to ACS Central's API, as roxctl does, and gates on the answer with
the same rules as the ImageScan, ImageCheck and DeploymentCheck custom tasks.
Central's address and token come from ROX_ENDPOINT and ROX_API_TOKEN
(ROX_CA_CERT_FILE for a private CA), or from --secret-dir, a mounted Secret
with files endpoint, token, ca.crt.

Output (-o): text (or table), json (roxctl's result.summary shape for scans),
sarif (SARIF 2.1.0 for code-scanning UIs) or junit (JUnit XML).`,
	}
	cmd.AddCommand(newACSScanCommand(g), newACSCheckCommand(g), newACSDeploymentCheckCommand(g))
	return cmd
}

// acsOptions are the flags every acs command shares: where Central is,
// and where the results and the full report go.
type acsOptions struct {
	*globalOptions
	secretDir, resultsDir string
	reportFile, reportFmt string
	reportDir, reportPath string
	cluster               string
	categories            []string
	retries               int
	retryDelay, timeout   time.Duration
}

func (o *acsOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.secretDir, "secret-dir", "", "a mounted Secret with files endpoint, token and optional ca.crt")
	f.StringVar(&o.resultsDir, "results-dir", "", "also write every result as a file here, even when the command fails (a Tekton step passes /tekton/results)")
	f.StringVar(&o.reportFile, "report", "", "also write the full report to this file (inside --report-dir when given)")
	f.StringVar(&o.reportDir, "report-dir", "", "write the report into this dir, named by --report or acs-<command>.<format>; given but empty (an unbound optional Task workspace) means no report")
	f.StringVar(&o.reportFmt, "report-format", "json", "format of the report file: json, sarif, junit or text")
	f.StringVar(&o.cluster, "cluster", "", "have this secured cluster do the work (for registries only it can reach)")
	f.IntVarP(&o.retries, "retries", "r", acs.DefaultRetries, "retries of a call Central may answer later (429, 5xx, transport errors); 0 for none")
	f.DurationVarP(&o.retryDelay, "retry-delay", "d", acs.DefaultRetryBaseDelay, "first backoff wait between retries; it doubles, with jitter")
	f.DurationVarP(&o.timeout, "timeout", "t", acs.DefaultTimeout, "bound on one call to Central")
}

// resolveReport checks the report flags and decides the report's path
// ("" for none) before any work starts.
func (o *acsOptions) resolveReport(cmd *cobra.Command) error {
	if !formatAllowed(o.reportFmt, true) || o.reportFmt == "table" {
		return fmt.Errorf("--report-format %q: must be json, sarif, junit or text", o.reportFmt)
	}
	o.reportPath = o.reportFile
	if !cmd.Flags().Changed("report-dir") {
		return nil
	}
	if o.reportDir == "" {
		o.reportPath = ""
		return nil
	}
	name := o.reportFile
	if name == "" {
		name = "acs-" + cmd.Name() + "." + map[string]string{"json": "json", "sarif": "sarif", "junit": "xml", "text": "txt"}[o.reportFmt]
	}
	if filepath.IsAbs(name) || strings.HasPrefix(filepath.Clean(name), "..") {
		return fmt.Errorf("--report %q: with --report-dir, give a file name inside it", name)
	}
	o.reportPath = filepath.Join(o.reportDir, name)
	return nil
}

// central connects to Central, retrying as roxctl does (-r, -d) and
// saying so on stderr; the token never reaches the output. Settings that
// cannot be used give a Central every gate reports as ACSSecretUnavailable,
// as the custom tasks do for their Secret.
func (o *acsOptions) central(stderr io.Writer) gate.Central {
	c, err := o.client(stderr)
	if err != nil {
		return gate.Unreachable(err)
	}
	return c
}

func (o *acsOptions) client(stderr io.Writer) (*acs.Client, error) {
	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	if o.retries <= 0 {
		cfg.Retries = -1
	} else {
		cfg.Retries = o.retries
	}
	cfg.RetryBaseDelay, cfg.Timeout = o.retryDelay, o.timeout
	cfg.OnRetry = func(e acs.RetryEvent) {
		fmt.Fprintf(stderr, "modelguard: %s: attempt %d failed (%v); retrying in %s\n", e.Op, e.Attempt, e.Err, e.Delay.Round(time.Millisecond))
	}
	return acs.New(cfg)
}

func (o *acsOptions) config() (acs.Config, error) {
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

// gateOutput is a gate's answer in every form the acs commands write.
type gateOutput interface {
	textReport
	Report() report.Report
	Results() results.Results
	verdict() gate.Verdict
}

// finish writes the results, the report file and the output, and turns the
// gate's outcome into the exit code: fail is a DeniedError (exit 2), error
// a gateError (exit 1).
func (o *acsOptions) finish(w io.Writer, out gateOutput) error {
	if err := writeResults(o.resultsDir, out.Results().Map()); err != nil {
		return err
	}
	if o.reportPath != "" {
		if err := writeReportFile(o.reportPath, o.reportFmt, out); err != nil {
			return err
		}
	}
	if err := o.print(w, out); err != nil {
		return err
	}
	switch v := out.verdict(); v.Outcome {
	case gate.Pass:
		return nil
	case gate.Fail:
		return &DeniedError{Reason: v.Reason + ": " + v.Message}
	default:
		return &gateError{v}
	}
}

// gateError is a gate that could not check: its results are written.
type gateError struct{ v gate.Verdict }

func (e *gateError) Error() string { return e.v.Reason + ": " + e.v.Message }

// runE runs a gate command. When the command stops before the gate runs
// (a bad flag, an unreadable file), every result is still written — gate
// "error", the reason and the message — from the same report the gate
// would have made, so the Task's results are always there for the next
// Task to read. fill makes that report's results from the verdict.
func (o *acsOptions) runE(fill func(gate.Verdict) results.Results, run func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := run(cmd, args)
		var denied *DeniedError
		var ran *gateError
		if err == nil || errors.As(err, &denied) || errors.As(err, &ran) {
			return err // finish wrote the results
		}
		reason := gate.ReasonInput
		var unread *unreadableError
		if errors.As(err, &unread) {
			reason = gate.ReasonManifests
		}
		if werr := writeResults(o.resultsDir, fill(gate.CouldNotRun(reason, err)).Map()); werr != nil {
			return fmt.Errorf("%w (and %v)", err, werr)
		}
		return err
	}
}

// unreadableError is input that could not be read (a manifest file), as
// opposed to input that is wrong.
type unreadableError struct{ err error }

func (e *unreadableError) Error() string { return e.err.Error() }
func (e *unreadableError) Unwrap() error { return e.err }

func writeReportFile(path, format string, out gateOutput) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	werr := render(f, format, out)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("--report %s: %w", path, werr)
	}
	return nil
}

// splitList reads comma-separated or repeated flag values.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
