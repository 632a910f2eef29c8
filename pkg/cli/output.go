package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/modelguard/modelguard/pkg/report"
	"github.com/spf13/cobra"
)

// textReport is implemented by reports that have a human-readable form.
type textReport interface {
	WriteText(w io.Writer) error
}

// reporter is implemented by gate outputs that can be written as SARIF
// and JUnit.
type reporter interface {
	Report() report.Report
}

// formalOutput marks, in a command's Annotations, that it writes sarif
// and junit: the flag is checked before any work starts.
const formalOutput = "modelguard.dev/formal-output"

func formatAllowed(f string, formal bool) bool {
	switch f {
	case "text", "table", "json":
		return true
	case "sarif", "junit":
		return formal
	}
	return false
}

func (o *globalOptions) validate(cmd *cobra.Command) error {
	formal := cmd.Annotations[formalOutput] != ""
	if formatAllowed(o.output, formal) {
		return nil
	}
	if formatAllowed(o.output, true) {
		return fmt.Errorf("--output %s: only the acs commands write %s; use text or json", o.output, o.output)
	}
	return fmt.Errorf("--output %q: must be text, table, json, sarif or junit", o.output)
}

// print writes a report in the chosen output format.
func (o *globalOptions) print(w io.Writer, r any) error { return render(w, o.output, r) }

// render writes r as format. JSON is indented and ends with a newline so
// it pipes cleanly into jq.
func render(w io.Writer, format string, r any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "sarif", "junit":
		rep, ok := r.(reporter)
		if !ok {
			return fmt.Errorf("this report cannot be written as %s", format)
		}
		if format == "sarif" {
			return report.SARIF(w, rep.Report())
		}
		return report.JUnit(w, rep.Report())
	}
	if t, ok := r.(textReport); ok {
		return t.WriteText(w)
	}
	_, err := fmt.Fprintln(w, r)
	return err
}

// writeResults writes one file per Tekton result into dir ("" writes
// nothing): the Task's results directory, /tekton/results in a step.
func writeResults(dir string, res map[string]string) error {
	if dir == "" {
		return nil
	}
	for name, value := range res {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o644); err != nil {
			return fmt.Errorf("--results-dir: %w", err)
		}
	}
	return nil
}

// fillResults writes every result a Task declares after a command that
// could not finish: "gate" (if declared) is "error", "summary" says why,
// the rest are empty. Tekton shows results of failed TaskRuns, and a
// later finally task may read them. It returns cause.
func fillResults(dir string, names []string, cause error) error {
	res := map[string]string{}
	for _, n := range names {
		res[n] = map[string]string{"gate": "error", "summary": cause.Error()}[n]
	}
	if err := writeResults(dir, res); err != nil {
		return fmt.Errorf("%w (and %v)", cause, err)
	}
	return cause
}
