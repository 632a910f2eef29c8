package gate

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
)

// RuntimeReport is the watch's answer and its evidence.
type RuntimeReport struct {
	// Decision is the runtime verdict; Verdict its outcome for both doors:
	// pass, fail, or error for an inconclusive watch (it could not check,
	// so it is never a pass) unless the policy accepts the reason.
	Decision RuntimeVerdict `json:"verdict"`
	Verdict
	// Accepted: inconclusive, and the policy accepts the reason.
	Accepted bool `json:"accepted,omitempty"`
	// Findings fail the watch; Observed are alerts seen in the window
	// that did not (below the severity); Problems make it inconclusive.
	Findings []RuntimeFinding `json:"findings,omitempty"`
	Observed []RuntimeFinding `json:"observed,omitempty"`
	Problems []Problem        `json:"problems,omitempty"`
	// Ignored counts alerts that are not this watch's: another
	// deployment's (a dropped filter), another stage, or older.
	Ignored       int             `json:"ignored"`
	ProcessesSeen int             `json:"processesSeen"`
	Targets       []TargetSummary `json:"targets"`
	Start         time.Time       `json:"start"`
	End           time.Time       `json:"end"`
	// RolledBack names what was scaled to zero after a fail.
	RolledBack    []string `json:"rolledBack,omitempty"`
	RollbackError string   `json:"rollbackError,omitempty"`
}

// RuntimeFinding is one alert or process, with why it counts.
type RuntimeFinding struct {
	Kind        string            `json:"kind"` // "alert" or "process"
	Deployment  string            `json:"deployment"`
	AlertID     string            `json:"alertId,omitempty"`
	Policy      string            `json:"policy,omitempty"`
	Severity    string            `json:"severity,omitempty"`
	Stage       string            `json:"stage,omitempty"`
	State       string            `json:"state,omitempty"`
	Enforcement string            `json:"enforcement,omitempty"`
	Why         string            `json:"why"`
	Time        *time.Time        `json:"time,omitempty"`
	Processes   []ProcessEvidence `json:"processes,omitempty"`
	Messages    []string          `json:"messages,omitempty"`
}

// ProcessEvidence is one process that ran.
type ProcessEvidence struct {
	Container string     `json:"container"`
	Pod       string     `json:"pod,omitempty"`
	Path      string     `json:"path"`
	Args      string     `json:"args,omitempty"`
	Time      *time.Time `json:"time,omitempty"`
}

// Problem is one reason the watch cannot vouch for the workload.
type Problem struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// TargetSummary is one target's figures.
type TargetSummary struct {
	Target
	Seen      bool `json:"seen"`
	Processes int  `json:"processes"`
}

// problems lists why the watch cannot vouch for its targets.
func problems(o Observation) []Problem {
	var out []Problem
	add := func(reason, format string, args ...any) {
		out = append(out, Problem{Reason: reason, Message: fmt.Sprintf(format, args...)})
	}
	if o.Permissions == nil {
		add(ReasonMissingPermissions, "the token's permissions could not be read")
	} else if missing := missingPermissions(o.Permissions); len(missing) > 0 {
		add(ReasonMissingPermissions, "the token's role cannot read %s (an empty answer from it proves nothing)", strings.Join(missing, ", "))
	}
	if len(o.Targets) == 0 {
		add(ReasonDeploymentNotSeen, "there was no workload to watch")
	}
	clusters := map[string]bool{}
	for _, t := range o.Targets {
		switch {
		case !t.Seen:
			add(ReasonDeploymentNotSeen, "Central never reported deployment %s/%s (uid %s): not yet seen by Sensor, or outside the token's access scope", t.Namespace, t.Name, t.UID)
			continue
		case t.ProcessCount == 0 && countProcesses(t, o.Start) == 0:
			add(ReasonNoProcessesSeen, "no process of %s/%s reached Central, so runtime detection cannot be shown to work for it", t.Namespace, t.Name)
		}
		if t.ClusterID == "" {
			add(ReasonSensorUnhealthy, "Central named no cluster for %s/%s, so its Sensor's health is unknown", t.Namespace, t.Name)
		} else {
			clusters[t.ClusterID] = true
		}
	}
	ids := make([]string, 0, len(clusters))
	for id := range clusters {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		h, ok := o.Health[id]
		switch {
		case !ok || h.Err != "":
			add(ReasonSensorUnhealthy, "the health of cluster %s is unknown: %s", id, orText(h.Err, "not read"))
		case h.Sensor != acs.HealthHealthy || h.Collector != acs.HealthHealthy:
			add(ReasonSensorUnhealthy, "cluster %s: Sensor %s, Collector %s (runtime detection needs both HEALTHY)", id, orText(string(h.Sensor), "?"), orText(string(h.Collector), "?"))
		case h.LastContact == nil || o.Now.Sub(*h.LastContact) > maxContactAge:
			add(ReasonSensorUnhealthy, "cluster %s: Sensor's last contact is older than %s", id, maxContactAge)
		}
	}
	if !o.Final && !o.Early {
		add(ReasonCentralUnavailable, "no full poll of Central after the window%s", prefixed(": ", o.Failing))
	}
	return out
}

func (f RuntimeFinding) reason() string {
	if f.Kind == "process" {
		return ReasonProcessNotAllowed
	}
	return ReasonRuntimeViolation
}

func (f RuntimeFinding) describe() string {
	var s string
	if f.Kind == "process" {
		s = f.Why
	} else {
		s = fmt.Sprintf("%q (%s, %s, %s) on %s: %s", f.Policy, f.Severity, f.Stage, f.State, f.Deployment, f.Why)
	}
	if len(f.Processes) > 0 {
		p := f.Processes[len(f.Processes)-1]
		s += fmt.Sprintf("; process %s %s in container %s", p.Path, p.Args, p.Container)
		if p.Pod != "" {
			s += " of pod " + p.Pod
		}
	}
	return s
}

// sortFindings puts the earliest first, alerts before processes at a tie.
func sortFindings(fs []RuntimeFinding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if (a.Time == nil) != (b.Time == nil) {
			return a.Time != nil
		}
		if a.Time != nil && !a.Time.Equal(*b.Time) {
			return a.Time.Before(*b.Time)
		}
		return a.Kind < b.Kind
	})
}

func targetNames(ts []TargetObservation) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Namespace + "/" + t.Name
	}
	if len(names) == 0 {
		return "no workload"
	}
	return strings.Join(names, ", ")
}

func sevWord(s acs.PolicySeverity) string { return strings.TrimSuffix(string(s), "_SEVERITY") }

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// missingPermissions lists the runtime resources the token cannot read.
func missingPermissions(p map[string]acs.Access) []string {
	var missing []string
	for _, res := range acs.RuntimePermissions {
		if !canRead(p, res) {
			missing = append(missing, res)
		}
	}
	return missing
}

func canRead(p map[string]acs.Access, resource string) bool {
	a := p[resource]
	return a == acs.ReadAccess || a == acs.ReadWriteAccess
}
