package gate

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
)

// The runtime gate: after a rollout, watch the new workload through
// Central for a window, and fail on what its containers did. JudgeRuntime
// is the decision, pure; WatchRuntime gathers what it judges.
//
// Three verdicts, because "no alert" is not "clean" unless Central could
// have raised one: pass needs the deployment seen by Central, processes of
// it seen (the Collector → Sensor → Central path works for it), the token
// able to read alerts, deployments and processes, Sensor and Collector
// healthy, and a full poll after the window. Anything missing is
// inconclusive, which fails unless the policy accepts that reason.

// RuntimeVerdict is a runtime watch's answer. As an Outcome,
// inconclusive is Error ("could not check, never a pass") unless the
// policy accepts its reason, and a watch that could not even start is
// RuntimeError.
type RuntimeVerdict string

// Runtime verdicts.
const (
	RuntimePass         RuntimeVerdict = "pass"
	RuntimeFail         RuntimeVerdict = "fail"
	RuntimeInconclusive RuntimeVerdict = "inconclusive"
	RuntimeError        RuntimeVerdict = "error"
)

// Reasons of a fail, then of an inconclusive verdict.
const (
	ReasonRuntimeViolation   = "RuntimeViolation"
	ReasonProcessNotAllowed  = "ProcessNotAllowed"
	ReasonMissingPermissions = "MissingPermissions"
	ReasonSensorUnhealthy    = "SensorUnhealthy"
	ReasonDeploymentNotSeen  = "DeploymentNotSeen"
	ReasonNoProcessesSeen    = "NoProcessesSeen"
	ReasonCentralUnavailable = "CentralUnavailable"
)

// Target is one Kubernetes workload the watch covers; UID is Central's
// deployment id.
type Target struct {
	UID, Name, Namespace string
}

// Observation is everything a watch saw, as of one poll.
type Observation struct {
	// Start is the earliest time that counts (the rollout's start minus
	// the clock skew allowed); End is when the window closes.
	Start, End time.Time
	// Now is the poll's time, for the freshness of Sensor's last contact.
	Now time.Time
	// Permissions is the token's access as GET /v1/mypermissions said; nil
	// when it could not be read.
	Permissions map[string]acs.Access
	Targets     []TargetObservation
	// Health is the latest health of each cluster the targets run in.
	Health map[string]ClusterHealth
	// Final is set when the last poll, after the window and grace, worked.
	Final bool
	// Early is set when the watch stopped before its window ended because
	// its answer could no longer become a pass (the token lacks a
	// permission), so the missing final poll is not a problem of its own.
	Early bool
	// Failing is the error that kept the watch from a full poll, if any.
	Failing string
}

// TargetObservation is what Central said about one target.
type TargetObservation struct {
	Target
	// Seen: GET /v1/deployments/{uid} answered; ClusterID is its cluster.
	Seen      bool
	ClusterID string
	// ProcessCount is the highest GET /v1/processcount seen.
	ProcessCount int
	// Alerts is the latest listing, each with its full alert if fetched;
	// Ignored counts alerts left out of it as not this watch's.
	Alerts  []ObservedAlert
	Ignored int
	// Processes is the latest process listing (only read with an
	// allow-list).
	Processes []acs.ContainerProcesses
}

// ObservedAlert is a listed alert and, when fetched, its evidence.
type ObservedAlert struct {
	acs.ListAlert
	Full *acs.Alert
}

// ClusterHealth is one cluster's health, or why it is unknown.
type ClusterHealth struct {
	Sensor, Collector acs.HealthStatus
	LastContact       *time.Time
	Err               string
}

// maxContactAge is how stale Sensor's last contact may be.
const maxContactAge = 5 * time.Minute

// maxEvidence bounds the processes reported per finding.
const maxEvidence = 5

// JudgeRuntime decides on what was observed. A fail needs only one
// finding, at any time; pass and inconclusive are final only once the
// observation is (Final, or the watch gave up).
func JudgeRuntime(o Observation, p RuntimePolicy) RuntimeReport {
	if p.Severity == "" {
		p.Severity = acs.PolicySeverityHigh
	}
	r := RuntimeReport{Start: o.Start, End: o.End}
	for _, t := range o.Targets {
		r.judgeAlerts(t, o, p)
		seen := 0
		if p.Allow != nil {
			seen = r.judgeProcesses(t, o, p.Allow)
		} else {
			seen = countProcesses(t, o.Start)
		}
		seen = max(seen, t.ProcessCount)
		r.ProcessesSeen += seen
		r.Targets = append(r.Targets, TargetSummary{Target: t.Target, Seen: t.Seen, Processes: seen})
	}
	sortFindings(r.Findings)
	sortFindings(r.Observed)
	if len(r.Findings) > 0 {
		r.Decision, r.Reason = RuntimeFail, r.Findings[0].reason()
		r.Message = fmt.Sprintf("%d runtime finding(s) on %s, first: %s", len(r.Findings), targetNames(o.Targets), r.Findings[0].describe())
		r.settle()
		return r
	}
	r.Problems = problems(o)
	if len(r.Problems) == 0 {
		r.Decision = RuntimePass
		r.Message = fmt.Sprintf("no runtime violation on %s from %s to %s; %d process(es) seen", targetNames(o.Targets),
			o.Start.UTC().Format(time.RFC3339), o.End.UTC().Format(time.RFC3339), r.ProcessesSeen)
		if len(r.Observed) > 0 {
			r.Message += fmt.Sprintf(", %d alert(s) below %s", len(r.Observed), sevWord(p.Severity))
		}
		r.settle()
		return r
	}
	r.Decision, r.Reason = RuntimeInconclusive, r.Problems[0].Reason
	var msgs []string
	accepted := true
	for _, pr := range r.Problems {
		msgs = append(msgs, pr.Message)
		accepted = accepted && containsFold(p.AcceptInconclusive, pr.Reason)
	}
	r.Accepted = accepted
	r.Message = "cannot vouch for " + targetNames(o.Targets) + ": " + strings.Join(msgs, "; ")
	if accepted {
		r.Message += " (accepted by accept-inconclusive)"
	}
	r.settle()
	return r
}

// judgeAlerts sorts a target's alerts into findings, observed and ignored.
// Every alert is checked to be for this UID: a query whose filter Central
// dropped would return everyone's.
func (r *RuntimeReport) judgeAlerts(t TargetObservation, o Observation, p RuntimePolicy) {
	r.Ignored += t.Ignored
	for _, a := range t.Alerts {
		if !counts(a.ListAlert, t.UID, o.Start, p) {
			r.Ignored++
			continue
		}
		f := alertFinding(t, a)
		if why := failing(a, p, f.Enforcement); why != "" {
			f.Why = why
			r.Findings = append(r.Findings, f)
		} else {
			f.Why = "below " + sevWord(p.Severity)
			r.Observed = append(r.Observed, f)
		}
	}
}

// counts reports whether an alert is this watch's: for this UID (a query
// whose filter Central dropped would return everyone's), of a watched
// stage, and not older than the window.
func counts(a acs.ListAlert, uid string, start time.Time, p RuntimePolicy) bool {
	stage := a.LifecycleStage == acs.StageRuntime || p.IncludeDeploy && a.LifecycleStage == acs.StageDeploy
	return stage && a.Deployment != nil && a.Deployment.ID == uid && (a.Time == nil || !a.Time.Before(start))
}

// failing says why an in-window alert fails, or "".
func failing(a ObservedAlert, p RuntimePolicy, enforcement string) string {
	var name string
	var sev acs.PolicySeverity
	var cats []string
	if a.Policy != nil {
		name, sev, cats = a.Policy.Name, a.Policy.Severity, a.Policy.Categories
	}
	switch {
	case a.State == acs.AlertResolved:
		return "resolved during the watch (an alert of the window, whoever resolved it)"
	case enforcement == string(acs.EnforcementKillPod) || enforcement == string(acs.EnforcementFailKubeRequest):
		return "Central enforced " + enforcement
	case containsFold(p.DenyPolicies, name):
		return "policy on the deny list"
	case rank(sev) >= rank(p.Severity):
		return "severity " + sevWord(sev) + " at or above " + sevWord(p.Severity)
	}
	for _, c := range cats {
		if containsFold(p.DenyCategories, c) {
			return "category " + c + " on the deny list"
		}
	}
	return ""
}

func alertFinding(t TargetObservation, a ObservedAlert) RuntimeFinding {
	f := RuntimeFinding{Kind: "alert", Deployment: t.Name, AlertID: a.ID, Stage: string(a.LifecycleStage), State: string(a.State), Time: a.Time}
	if a.Policy != nil {
		f.Policy, f.Severity = a.Policy.Name, sevWord(a.Policy.Severity)
	}
	if a.EnforcementAction != "" && a.EnforcementAction != acs.EnforcementUnset {
		f.Enforcement = string(a.EnforcementAction)
	}
	if full := a.Full; full != nil {
		if full.Enforcement != nil && full.Enforcement.Action != acs.EnforcementUnset && full.Enforcement.Action != "" {
			f.Enforcement = string(full.Enforcement.Action)
		}
		for _, v := range full.Violations {
			f.Messages = append(f.Messages, RedactArgs(v.Message))
		}
		if pv := full.ProcessViolation; pv != nil {
			if pv.Message != "" {
				f.Messages = append(f.Messages, RedactArgs(pv.Message))
			}
			procs := pv.Processes
			if len(procs) > maxEvidence {
				procs = procs[len(procs)-maxEvidence:] // the newest
			}
			for _, pi := range procs {
				f.Processes = append(f.Processes, evidence(pi))
			}
		}
		f.Messages = f.Messages[:min(len(f.Messages), maxEvidence)]
	}
	return f
}

func evidence(pi acs.ProcessIndicator) ProcessEvidence {
	return ProcessEvidence{Container: pi.ContainerName, Pod: pi.PodID, Path: pi.Signal.ExecFilePath, Args: RedactArgs(pi.Signal.Args), Time: pi.Signal.Time}
}

// secretWord marks a command-line word whose value is a credential.
var secretWord = regexp.MustCompile(`(?i)(token|secret|passw(or)?d|pwd|api[-_]?key|auth|credential|bearer|private[-_]?key|access[-_]?key|session)`)

// RedactArgs hides credential values in a process's arguments before they
// reach results, conditions or reports: whoever reads a pipeline's results
// need not be able to read the serving namespace's Secrets, and a server
// started with --api-key=... would otherwise hand them its key. A word
// naming a credential keeps its name and loses its value ("--token=x",
// "--token x", "Authorization: Bearer x" all become "[REDACTED]" values).
func RedactArgs(args string) string {
	words := strings.Fields(args)
	redactNext := false
	for i, w := range words {
		scheme := strings.ToLower(strings.Trim(w, `"'`))
		switch {
		case redactNext && (scheme == "bearer" || scheme == "basic"):
			// the scheme of an Authorization value: the credential follows
		case redactNext:
			words[i], redactNext = "[REDACTED]", false
		case strings.HasPrefix(w, "/") || !secretWord.MatchString(w):
			// a path (/var/run/secrets/...) or an ordinary word
		case strings.Contains(w, "="):
			k, _, _ := strings.Cut(w, "=")
			words[i] = k + "=[REDACTED]"
		case strings.Contains(w, ":") && !strings.HasSuffix(w, ":"):
			k, _, _ := strings.Cut(w, ":")
			words[i] = k + ":[REDACTED]"
		default:
			redactNext = true
		}
	}
	return strings.Join(words, " ")
}

// judgeProcesses fails every (container, executable) outside the
// allow-list that ran in the window, and counts the window's processes.
func (r *RuntimeReport) judgeProcesses(t TargetObservation, o Observation, allow *ProcessAllowList) int {
	seen := 0
	for _, g := range t.Processes {
		var ev []ProcessEvidence
		var first *time.Time
		for _, pg := range g.Groups {
			for _, s := range pg.Signals {
				if s.Signal.Time != nil && s.Signal.Time.Before(o.Start) {
					continue
				}
				seen++
				if len(ev) < maxEvidence {
					ev = append(ev, evidence(s))
				}
				if first == nil || s.Signal.Time != nil && s.Signal.Time.Before(*first) {
					first = s.Signal.Time
				}
			}
		}
		if len(ev) == 0 || allow.Allows(g.ContainerName, g.Name) {
			continue
		}
		r.Findings = append(r.Findings, RuntimeFinding{Kind: "process", Deployment: t.Name, Time: first, Processes: ev,
			Why: fmt.Sprintf("%s ran %s, which is not on the allow-list", g.ContainerName, g.Name)})
	}
	return seen
}

func countProcesses(t TargetObservation, start time.Time) int {
	n := 0
	for _, g := range t.Processes {
		for _, pg := range g.Groups {
			for _, s := range pg.Signals {
				if s.Signal.Time == nil || !s.Signal.Time.Before(start) {
					n++
				}
			}
		}
	}
	return n
}
