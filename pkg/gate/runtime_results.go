package gate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/modelguard/modelguard/pkg/results"
)

// RuntimeResultNames are the results of a runtime watch, in order.
var RuntimeResultNames = []string{"gate", "reason", "verdict", "alerts", "processes-seen", "summary"}

// settle sets the outcome from the runtime verdict, once the verdict is
// known.
func (r *RuntimeReport) settle() {
	switch {
	case r.Decision == RuntimePass, r.Decision == RuntimeInconclusive && r.Accepted:
		r.Outcome = Pass
	case r.Decision == RuntimeFail:
		r.Outcome = Fail
	default:
		r.Outcome = Error
	}
}

// Results are the watch's results, always all written: the outcome and
// its reason, the runtime verdict (pass, fail, inconclusive or error), one
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
	seen := strconv.Itoa(r.ProcessesSeen)
	if r.Decision == RuntimeError {
		seen = "" // nothing was watched: no count may read as "none seen"
	}
	return results.Results{
		{Name: "gate", Value: string(r.Outcome)},
		{Name: "reason", Value: r.Reason},
		{Name: "verdict", Value: string(r.Decision)},
		{Name: "alerts", Value: results.Fit(strings.Join(lines, "\n"), 3000)},
		{Name: "processes-seen", Value: seen},
		{Name: "summary", Value: results.Fit(oneLine(r.Message), 1500)},
	}
}

// WatchFailed is the report of a watch that could not start: the workload
// could not be found or read, or the credentials for Central are unusable.
// err's reason is used when it names one (see Reasoned).
func WatchFailed(err error) RuntimeReport {
	reason := ReasonWorkload
	var rn Reasoned
	if errors.As(err, &rn) && rn.Reason() != "" {
		reason = rn.Reason()
	}
	return RuntimeReport{Decision: RuntimeError, Verdict: CouldNotRun(reason, err)}
}

// ReasonStopped is the reason of a watch stopped before it could decide
// (its caller's context ended: a signal to the CLI).
const ReasonStopped = "WatchStopped"

// ReasonWorkload is the reason of a watch whose workload could not be
// found or read.
const ReasonWorkload = "WorkloadUnavailable"

// Reasoned is an error that names the reason a door reports it under.
type Reasoned interface {
	error
	Reason() string
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
