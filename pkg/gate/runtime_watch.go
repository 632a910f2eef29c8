package gate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
)

// RuntimeCentral is what a runtime watch asks Central; *acs.Client is one.
type RuntimeCentral interface {
	MyPermissions(ctx context.Context) (*acs.Permissions, error)
	GetDeployment(ctx context.Context, id string) (*acs.Deployment, error)
	GetCluster(ctx context.Context, id string) (*acs.Cluster, error)
	ProcessCount(ctx context.Context, deploymentID string) (int, error)
	ProcessesByContainer(ctx context.Context, deploymentID string) ([]acs.ContainerProcesses, error)
	ListAlerts(ctx context.Context, q acs.AlertQuery) ([]acs.ListAlert, error)
	GetAlert(ctx context.Context, id string) (*acs.Alert, error)
}

var _ RuntimeCentral = (*acs.Client)(nil)

// UnreachableRuntime is a RuntimeCentral whose credentials cannot be used
// (err says why): a watch given it is an error with ReasonCredentials, as
// the other gates are with Unreachable.
func UnreachableRuntime(err error) RuntimeCentral { return unreachable{err} }

func (u unreachable) MyPermissions(context.Context) (*acs.Permissions, error) {
	return nil, &credentialsError{u.err}
}
func (u unreachable) GetDeployment(context.Context, string) (*acs.Deployment, error) {
	return nil, &credentialsError{u.err}
}
func (u unreachable) GetCluster(context.Context, string) (*acs.Cluster, error) {
	return nil, &credentialsError{u.err}
}
func (u unreachable) ProcessCount(context.Context, string) (int, error) {
	return 0, &credentialsError{u.err}
}
func (u unreachable) ProcessesByContainer(context.Context, string) ([]acs.ContainerProcesses, error) {
	return nil, &credentialsError{u.err}
}
func (u unreachable) ListAlerts(context.Context, acs.AlertQuery) ([]acs.ListAlert, error) {
	return nil, &credentialsError{u.err}
}
func (u unreachable) GetAlert(context.Context, string) (*acs.Alert, error) {
	return nil, &credentialsError{u.err}
}

// Workloads finds the Kubernetes workloads a watch covers, and rolls them
// back. pkg/workload implements it; the gate itself knows no Kubernetes.
type Workloads interface {
	// Resolve names the Deployments to watch, by UID.
	Resolve(ctx context.Context) ([]Target, error)
	// ScaleToZero stops them after a failed watch and names what it
	// scaled. It is called again when a restarted controller repeats a
	// watch, so it must be safe to repeat.
	ScaleToZero(ctx context.Context, targets []Target) ([]string, error)
}

// WatchInput is one watch.
type WatchInput struct {
	Workloads Workloads
	// Start is when the watched rollout began. It must come from a
	// durable place (a CustomRun's status.startTime), so a watch repeated
	// after a controller restart covers the same window, not a new one.
	Start time.Time
	Timing
	// Skew is how far before Start an alert or process still counts
	// (default DefaultSkew): Sensor's and the nodes' clocks are not ours.
	Skew   time.Duration
	Policy RuntimePolicy
	OnFail OnFail
	// Now replaces the clock in tests.
	Now func() time.Time
	// Wait, if set, is how the watch waits between polls (a controller
	// passes one that frees its job slot meanwhile); it reports whether it
	// waited in full.
	Wait func(ctx context.Context, d time.Duration) bool
}

// WatchProgress is what a watch reports while it works, for a CustomRun's
// status or a terminal.
type WatchProgress struct {
	Phase     string    `json:"phase"` // Resolving, Discovering, Watching, Grace, RollingBack
	WindowEnd time.Time `json:"windowEnd"`
	Targets   int       `json:"targets"`
	Seen      int       `json:"seen"`
	Processes int       `json:"processes"`
	Findings  int       `json:"findings"`
	LastError string    `json:"lastError,omitempty"`
}

// Watch phases.
const (
	PhaseResolving   = "Resolving"
	PhaseDiscovering = "Discovering"
	PhaseWatching    = "Watching"
	PhaseGrace       = "Grace"
	PhaseRollingBack = "RollingBack"
)

// Per-poll bounds: how long one poll may take, how many alerts' evidence
// it fetches, and how often cluster health is read again.
const (
	pollTimeout        = time.Minute
	evidencePerPoll    = 10
	healthRefreshEvery = time.Minute
)

// WatchRuntime resolves the workload, watches it through Central from
// Start to Start+Window+Grace (failing as soon as a finding appears), and
// on a fail with OnFail scale-to-zero rolls it back. A workload that
// cannot be resolved is a RuntimeError report; Central failing for the
// whole window is inconclusive. The error is only ctx's, when it ends.
func WatchRuntime(ctx context.Context, c RuntimeCentral, in WatchInput, progress func(WatchProgress)) (RuntimeReport, error) {
	if in.Start.IsZero() || in.Window <= 0 || in.Poll <= 0 || in.Workloads == nil {
		return RuntimeReport{}, errors.New("gate: WatchRuntime needs a start time, a window, a poll interval and the workloads")
	}
	if u, ok := c.(unreachable); ok {
		return RuntimeReport{Decision: RuntimeError, Verdict: CouldNotRun(ReasonCredentials, u.err)}, nil
	}
	if in.Skew == 0 {
		in.Skew = DefaultSkew
	}
	now := in.Now
	if now == nil {
		now = time.Now
	}
	w := &watch{c: c, in: in, progress: progress, evidence: map[string]evidenceEntry{}, healthAt: map[string]time.Time{}}
	w.report(WatchProgress{Phase: PhaseResolving})
	targets, err := in.Workloads.Resolve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return RuntimeReport{}, ctx.Err()
		}
		return WatchFailed(err), nil
	}
	end := in.Start.Add(in.Window)
	final := end.Add(in.Grace)
	giveUp := final.Add(max(in.Grace, 3*in.Poll))
	w.obs = Observation{Start: in.Start.Add(-in.Skew), End: end, Health: map[string]ClusterHealth{}}
	for _, t := range targets {
		w.obs.Targets = append(w.obs.Targets, TargetObservation{Target: t})
	}
	var r RuntimeReport
	for {
		t := now()
		isFinal := !t.Before(final)
		w.obs.Now = t
		err := w.poll(ctx, isFinal)
		if ctx.Err() != nil {
			return RuntimeReport{}, ctx.Err()
		}
		w.obs.Failing = ""
		if err != nil {
			w.obs.Failing = err.Error()
		}
		w.obs.Final = isFinal && err == nil
		// A token that cannot read what the verdict needs can never give a
		// pass: say so now rather than after the window.
		w.obs.Early = !isFinal && w.obs.Permissions != nil && len(missingPermissions(w.obs.Permissions)) > 0 &&
			!containsFold(in.Policy.AcceptInconclusive, ReasonMissingPermissions)
		r = JudgeRuntime(w.obs, in.Policy)
		if r.Decision == RuntimeFail || w.obs.Final || w.obs.Early || !t.Before(giveUp) {
			break
		}
		w.report(w.state(t, end, final, r))
		next := t.Add(in.Poll)
		if t.Before(final) && next.After(final) {
			next = final
		}
		wait := sleepUntil
		if in.Wait != nil {
			wait = in.Wait
		}
		if d := next.Sub(now()); d > 0 && !wait(ctx, d) || ctx.Err() != nil {
			return RuntimeReport{}, ctx.Err()
		}
	}
	if r.Decision == RuntimeFail && in.OnFail == OnFailScaleToZero {
		w.report(WatchProgress{Phase: PhaseRollingBack, WindowEnd: end, Targets: len(targets), Findings: len(r.Findings)})
		r.RolledBack, err = in.Workloads.ScaleToZero(ctx, targets)
		if err != nil {
			r.RollbackError = err.Error()
			r.Message += "; the rollback failed: " + err.Error()
		} else {
			r.Message += fmt.Sprintf("; rolled back: %v scaled to zero", r.RolledBack)
		}
	}
	return r, nil
}

type watch struct {
	c        RuntimeCentral
	in       WatchInput
	obs      Observation
	progress func(WatchProgress)
	last     WatchProgress
	// evidence caches full alerts by id, refetched when an alert's time
	// moves (a merge added processes).
	evidence map[string]evidenceEntry
	healthAt map[string]time.Time
}

type evidenceEntry struct {
	time  time.Time
	alert *acs.Alert
}

func (w *watch) report(p WatchProgress) {
	if w.progress != nil && p != w.last {
		w.last = p
		w.progress(p)
	}
}

func (w *watch) state(now, end, final time.Time, r RuntimeReport) WatchProgress {
	p := WatchProgress{Phase: PhaseWatching, WindowEnd: end, Targets: len(w.obs.Targets), Processes: r.ProcessesSeen,
		Findings: len(r.Findings), LastError: short(w.obs.Failing)}
	for _, t := range w.obs.Targets {
		if t.Seen {
			p.Seen++
		}
	}
	switch {
	case p.Seen < p.Targets:
		p.Phase = PhaseDiscovering
	case !now.Before(end) && now.Before(final):
		p.Phase = PhaseGrace
	}
	return p
}

// poll asks Central everything the verdict needs once, and returns the
// first error; what was answered is kept even when something failed.
func (w *watch) poll(ctx context.Context, final bool) error {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	var errs []error
	if w.obs.Permissions == nil || final {
		if p, err := w.c.MyPermissions(ctx); err != nil {
			errs = append(errs, fmt.Errorf("read the token's permissions: %w", err))
		} else {
			w.obs.Permissions = p.ResourceToAccess
			if w.obs.Permissions == nil {
				w.obs.Permissions = map[string]acs.Access{}
			}
		}
	}
	fetched := 0
	for i := range w.obs.Targets {
		errs = append(errs, w.pollTarget(ctx, &w.obs.Targets[i], final, &fetched)...)
	}
	for _, t := range w.obs.Targets {
		if t.ClusterID == "" || !w.may("Cluster") || (!final && w.obs.Now.Sub(w.healthAt[t.ClusterID]) < healthRefreshEvery) {
			continue
		}
		cl, err := w.c.GetCluster(ctx, t.ClusterID)
		h := ClusterHealth{}
		if err != nil {
			h.Err = err.Error()
			errs = append(errs, fmt.Errorf("read the health of cluster %s: %w", t.ClusterID, err))
		} else if cl.HealthStatus == nil {
			h.Err = "Central reported no health"
		} else {
			h = ClusterHealth{Sensor: cl.HealthStatus.SensorHealthStatus, Collector: cl.HealthStatus.CollectorHealthStatus, LastContact: cl.HealthStatus.LastContact}
		}
		w.obs.Health[t.ClusterID] = h
		w.healthAt[t.ClusterID] = w.obs.Now
	}
	return errors.Join(errs...)
}

// may reports whether the token can read a resource, as far as is known;
// a call it cannot make would only fail with 403.
func (w *watch) may(resource string) bool {
	return w.obs.Permissions == nil || canRead(w.obs.Permissions, resource)
}

func (w *watch) pollTarget(ctx context.Context, t *TargetObservation, final bool, fetched *int) []error {
	var errs []error
	if !t.Seen && w.may("Deployment") {
		d, err := w.c.GetDeployment(ctx, t.UID)
		switch {
		case err == nil:
			t.Seen, t.ClusterID = true, d.ClusterID
		case !acs.IsNotFound(err):
			errs = append(errs, fmt.Errorf("look up deployment %s: %w", t.Name, err))
		}
	}
	if t.Seen && (t.ProcessCount == 0 || final) && w.may("DeploymentExtension") {
		n, err := w.c.ProcessCount(ctx, t.UID)
		if err != nil {
			errs = append(errs, fmt.Errorf("count the processes of %s: %w", t.Name, err))
		}
		t.ProcessCount = max(t.ProcessCount, n)
	}
	if t.Seen && w.in.Policy.Allow != nil && w.may("DeploymentExtension") {
		ps, err := w.c.ProcessesByContainer(ctx, t.UID)
		switch {
		case err == nil:
			t.Processes = ps
		case !acs.IsNotFound(err):
			errs = append(errs, fmt.Errorf("list the processes of %s: %w", t.Name, err))
		}
	}
	if !w.may("Alert") {
		return errs
	}
	alerts, err := w.c.ListAlerts(ctx, acs.AlertQuery{DeploymentID: t.UID, States: acs.AllAlertStates})
	if err != nil {
		return append(errs, fmt.Errorf("list the alerts of %s: %w", t.Name, err))
	}
	// Only the alerts that count are kept, and only failing ones get their
	// evidence fetched: a watch ends at its first finding, so what it holds
	// stays small whatever Central lists.
	t.Alerts, t.Ignored = t.Alerts[:0], 0
	for _, a := range alerts {
		if !counts(a, t.UID, w.obs.Start, w.in.Policy) {
			t.Ignored++
			continue
		}
		oa := ObservedAlert{ListAlert: a}
		if failing(oa, w.in.Policy, string(a.EnforcementAction)) != "" {
			oa.Full = w.full(ctx, a, fetched, &errs)
		}
		t.Alerts = append(t.Alerts, oa)
	}
	return errs
}

// full returns an alert's evidence, fetching it when it is new or its time
// moved, at most evidencePerPoll fetches per poll.
func (w *watch) full(ctx context.Context, a acs.ListAlert, fetched *int, errs *[]error) *acs.Alert {
	var at time.Time
	if a.Time != nil {
		at = *a.Time
	}
	e, ok := w.evidence[a.ID]
	if ok && e.time.Equal(at) || *fetched >= evidencePerPoll {
		return e.alert
	}
	*fetched++
	full, err := w.c.GetAlert(ctx, a.ID)
	if err != nil {
		if !acs.IsNotFound(err) {
			*errs = append(*errs, fmt.Errorf("read alert %s: %w", a.ID, err))
		}
		return e.alert
	}
	w.evidence[a.ID] = evidenceEntry{time: at, alert: full}
	return full
}

func sleepUntil(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
