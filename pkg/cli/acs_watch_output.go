package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/report"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/modelguard/modelguard/pkg/workload"
)

// watchOutput is a runtime watch's answer in every form the command writes.
type watchOutput struct {
	gate.RuntimeReport
	ref workload.Ref
}

func (w watchOutput) Results() results.Results { return w.RuntimeReport.Results() }

func (w watchOutput) verdict() gate.Verdict { return w.Verdict }

func (w watchOutput) subject() string {
	return w.ref.Namespace + "/" + w.ref.Deployment + w.ref.InferenceService
}

func (w watchOutput) WriteText(out io.Writer) error {
	fmt.Fprintf(out, "Runtime watch of %s", w.subject())
	if !w.Start.IsZero() {
		fmt.Fprintf(out, " from %s to %s", w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(out, "\n(deployments: %d, processes seen: %d, alerts ignored as not this watch's: %d)\n\n", len(w.Targets), w.ProcessesSeen, w.Ignored)
	if all := append(append([]gate.RuntimeFinding{}, w.Findings...), w.Observed...); len(all) > 0 {
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FAILS\tDEPLOYMENT\tPOLICY / PROCESS\tSEVERITY\tSTATE\tWHY\tEVIDENCE\t")
		for i, f := range all {
			fmt.Fprintf(tw, "%v\t%s\t%s\t%s\t%s\t%s\t%s\t\n", i < len(w.Findings), f.Deployment, dash(f.Policy), dash(f.Severity), dash(f.State), f.Why, dash(evidenceText(f)))
		}
		tw.Flush()
	}
	for _, p := range w.Problems {
		fmt.Fprintf(out, "cannot vouch (%s): %s\n", p.Reason, p.Message)
	}
	v := w.Verdict
	verdict := strings.ToUpper(string(w.Decision))
	if v.Reason != "" {
		verdict += " (" + v.Reason + ")"
	}
	_, err := fmt.Fprintf(out, "\nruntime watch: %s: %s\n", verdict, w.Message)
	return err
}

func evidenceText(f gate.RuntimeFinding) string {
	var parts []string
	for _, p := range f.Processes {
		s := p.Container + ":" + p.Path
		if p.Args != "" {
			s += " " + results.Fit(p.Args, 80)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// Report has one result per finding (failing), per alert seen below the
// severity (a note), and per reason the watch cannot vouch (failing).
func (w watchOutput) Report() report.Report {
	v := w.Verdict
	r := report.Report{Tool: "modelguard acs watch", Version: currentVersion().Version, Subject: w.subject(),
		Pass: v.Outcome == gate.Pass, Reason: v.Reason, Summary: w.Message}
	add := func(f gate.RuntimeFinding, failing bool) {
		id := f.Policy
		if f.Kind == "process" {
			id = "process-not-allowed"
		}
		level := report.Note
		if failing {
			level = report.Error
		}
		msg := f.Why
		if e := evidenceText(f); e != "" {
			msg += "; " + e
		}
		r.Results = append(r.Results, report.Result{Rule: report.Rule{ID: id, Name: dashIfEmpty(id, f.Kind),
			Description: "ACS runtime " + f.Kind + " " + f.Severity, Tags: []string{"security", "runtime", strings.ToLower(f.Severity)}},
			Level: level, Message: msg, Location: w.ref.Namespace + "/" + f.Deployment, Failing: failing})
	}
	for _, f := range w.Findings {
		add(f, true)
	}
	for _, f := range w.Observed {
		add(f, false)
	}
	for _, p := range w.Problems {
		r.Results = append(r.Results, report.Result{Rule: report.Rule{ID: p.Reason, Name: p.Reason, Description: "the watch cannot vouch for the workload",
			Tags: []string{"runtime", "inconclusive"}}, Level: report.Error, Message: p.Message, Location: w.subject(), Failing: !r.Pass})
	}
	return r
}

func dashIfEmpty(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
