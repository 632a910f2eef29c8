package acsemulator

import (
	"fmt"
	"sort"
	"time"
)

// Alerts as Central keeps them: raised by Exec through the runtime
// policies, or directly by RaiseAlert; merged one per policy and
// deployment while open.

// violate raises or merges the alert of one policy on one deployment.
func (rs *runtimeState) violate(w *workload, pol *compiledPolicy, ind *indicator) {
	var open *rtAlert
	for _, a := range w.alerts {
		if a.policy.id == pol.id && (a.state == "ACTIVE" || a.state == "ATTEMPTED") {
			open = a
		}
	}
	switch {
	case open == nil:
		open = &rtAlert{id: newUUID(), policy: pol.alertPolicy(), stage: "RUNTIME", w: w, state: "ACTIVE",
			first: ind.time, time: ind.time, podsKilled: map[string]bool{}}
		rs.alerts[open.id] = open
		w.alerts = append(w.alerts, open)
	case len(open.processes) >= maxAlertProcesses:
		return // Central skips the merge: the alert is not touched at all
	default:
		open.time = maxTime(open.time, ind.time)
	}
	open.processes = append(open.processes, ind)
	sort.SliceStable(open.processes, func(i, j int) bool { return open.processes[i].time.Before(open.processes[j].time) })
	if n := len(open.processes); n > maxAlertProcesses {
		open.processes = open.processes[n-maxAlertProcesses:]
	}
	if pol.killsPod() {
		open.podsKilled[ind.pod] = true
	}
}

// AlertSpec raises an alert directly, for what Exec cannot produce: a
// deploy-time alert, an attempted (blocked) action, or an alert from before
// a test's window.
type AlertSpec struct {
	DeploymentUID string
	// Policy names a runtime or deploy policy of the data file.
	Policy string
	// State is ACTIVE (default), ATTEMPTED or RESOLVED.
	State string
	// Time is the alert's time; zero means now.
	Time    time.Time
	Message string
}

// RaiseAlert stores an alert as Central would receive it from Sensor and
// returns its id.
func (e *Emulator) RaiseAlert(s AlertSpec) (string, error) {
	rs := e.rt
	rs.mu.Lock()
	defer rs.mu.Unlock()
	w, ok := rs.workloads[s.DeploymentUID]
	if !ok {
		return "", fmt.Errorf("acsemulator: RaiseAlert: no deployment %q", s.DeploymentUID)
	}
	var pol alertPolicy
	stage := "RUNTIME"
	if p, ok := rs.runtimePolicy(s.Policy); ok {
		pol = p.alertPolicy()
	} else if p, ok := rs.deployPolicies[s.Policy]; ok {
		pol, stage = deployAlertPolicy(p), "DEPLOY"
	} else {
		return "", fmt.Errorf("acsemulator: RaiseAlert: no runtime or deploy policy %q", s.Policy)
	}
	if s.State == "" {
		s.State = "ACTIVE"
	}
	if !contains([]string{"ACTIVE", "ATTEMPTED", "RESOLVED"}, s.State) {
		return "", fmt.Errorf("acsemulator: RaiseAlert: state %q", s.State)
	}
	if s.Time.IsZero() {
		s.Time = time.Now()
	}
	a := &rtAlert{id: newUUID(), policy: pol, stage: stage, w: w, state: s.State, first: s.Time.UTC(), time: s.Time.UTC(),
		podsKilled: map[string]bool{}}
	if s.Message != "" {
		a.violations = []string{s.Message}
	}
	if s.State == "RESOLVED" {
		a.resolvedAt = time.Now().UTC()
	}
	rs.alerts[a.id] = a
	w.alerts = append(w.alerts, a)
	return a.id, nil
}

// ResolveAlert resolves an alert, as a user in the UI (or a policy change)
// would.
func (e *Emulator) ResolveAlert(id string) error {
	rs := e.rt
	rs.mu.Lock()
	defer rs.mu.Unlock()
	a, ok := rs.alerts[id]
	if !ok {
		return fmt.Errorf("acsemulator: ResolveAlert: no alert %q", id)
	}
	a.state, a.resolvedAt = "RESOLVED", time.Now().UTC()
	return nil
}

// AlertSummary is what a test can read back about an alert.
type AlertSummary struct {
	ID, Policy, Stage, State string
	Time                     time.Time
	Processes                int
}

// Alerts lists a deployment's alerts, oldest first.
func (e *Emulator) Alerts(uid string) []AlertSummary {
	rs := e.rt
	rs.mu.Lock()
	defer rs.mu.Unlock()
	w, ok := rs.workloads[uid]
	if !ok {
		return nil
	}
	var out []AlertSummary
	for _, a := range w.alerts {
		out = append(out, AlertSummary{ID: a.id, Policy: a.policy.name, Stage: a.stage, State: a.state, Time: a.time, Processes: len(a.processes)})
	}
	return out
}
