package gate

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/modelguard/modelguard/pkg/results"
)

// RuntimeResultNames are the results of a runtime watch, in order.
var RuntimeResultNames = []string{"verdict", "alerts", "processes-seen", "summary"}

// Results are the watch's results, always all written: the verdict, one
// line per finding (then per alert seen below the severity) naming the
// policy, the severity and the process, the processes seen, and a summary.
func (r RuntimeReport) Results() results.Results {
	var lines []string
	for _, f := range r.Findings {
		lines = append(lines, "FAIL "+f.line())
	}
	for _, f := range r.Observed {
		lines = append(lines, "seen "+f.line())
	}
	return results.Results{
		{Name: "verdict", Value: string(r.Verdict)},
		{Name: "alerts", Value: results.Fit(strings.Join(lines, "\n"), 3000)},
		{Name: "processes-seen", Value: strconv.Itoa(r.ProcessesSeen)},
		{Name: "summary", Value: results.Fit(r.Message, 1500)},
	}
}

func (f RuntimeFinding) line() string {
	var s string
	if f.Kind == "process" {
		s = fmt.Sprintf("process on %s: %s", f.Deployment, f.Why)
	} else {
		s = fmt.Sprintf("policy=%q severity=%s stage=%s state=%s deployment=%s", f.Policy, f.Severity, f.Stage, f.State, f.Deployment)
		if f.Enforcement != "" {
			s += " enforcement=" + f.Enforcement
		}
		s += " (" + f.Why + ")"
	}
	if len(f.Processes) > 0 {
		p := f.Processes[len(f.Processes)-1]
		s += fmt.Sprintf(" process=%s:%s", p.Container, p.Path)
		if p.Args != "" {
			s += " args=" + strconv.Quote(results.Fit(p.Args, 120))
		}
		if p.Pod != "" {
			s += " pod=" + p.Pod
		}
	}
	return s
}
