// Package customrun serves Tekton CustomRuns whose customRef (or customSpec)
// has apiVersion modelguard.dev/v1alpha1. It implements the CustomRun
// contract once — start, validation, cancel, timeout, retries, async work,
// results, events and metrics — and knows kinds only through pkg/kinds.
package customrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/controller"
	kreconciler "knative.dev/pkg/reconciler"
)

// Reasons set on the Succeeded condition besides Tekton's own
// (Started, Running, Succeeded, CustomRunCancelled, CustomRunTimedOut,
// CustomRunWorkspaceNotSupported).
const (
	ReasonUnknownKind    = "UnknownKind"
	ReasonUnsupportedRef = "UnsupportedRef"
	ReasonInvalidParams  = "InvalidParams"
	ReasonRetrying       = "Retrying"
	ReasonError          = "Error"
	ReasonResultTooLarge = "ResultTooLarge"
)

// Bounds that keep a CustomRun's status small whatever its spec and its
// kind say, so it can always be written, finished and cancelled.
const (
	// MaxRetries caps spec.retries (Tekton sets no cap): a larger value is
	// honoured as MaxRetries, and the Retrying message says so. With the
	// backoff below, ten retries span about five minutes.
	MaxRetries = 10
	// MaxMessageBytes caps every condition message and Event, whatever a
	// kind or a peer put in it.
	MaxMessageBytes = 1024
	// retryBaseDelay doubles per retry up to retryMaxDelay: a failing
	// attempt is not run again in the same reconcile, and a peer that
	// refuses at once is not hammered.
	retryBaseDelay = time.Second
	retryMaxDelay  = time.Minute
)

// Reconciler decides what a CustomRun's status should be. Status is its
// only state besides in-flight jobs, which are rebuilt on demand.
type Reconciler struct {
	Clock clock.PassiveClock
	// RetryDelay is the wait before retry n (from 1); nil means doubling
	// from a second up to a minute.
	RetryDelay func(n int) time.Duration
	kinds      map[string]kinds.Kind
	jobs       *jobs
	stats      *stats
}

// progress is kept in status.extraFields while an attempt works, so a
// person (and a restarted controller) can see what is in flight.
type progress struct {
	Kind    string      `json:"kind"`
	Attempt int         `json:"attempt"`
	Phase   string      `json:"phase"`
	Since   metav1.Time `json:"since"`
	// Detail is what the job last reported (kinds.Request.Progress).
	Detail any `json:"detail,omitempty"`
	// Until is when the next attempt starts, in phase Backoff.
	Until *metav1.Time `json:"until,omitempty"`
}

// setProgress stores p as the run's status.extraFields. The API server
// hands extraFields back with their keys sorted, so what only differs from
// p in the order of keys is left as it is: writing it again would be one
// status update per reconcile of a running run that changes nothing.
func setProgress(run *v1beta1.CustomRun, p progress) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode progress: %w", err)
	}
	var had, want any
	if json.Unmarshal(run.Status.ExtraFields.Raw, &had) == nil && json.Unmarshal(raw, &want) == nil && reflect.DeepEqual(had, want) {
		return nil
	}
	run.Status.ExtraFields.Raw = raw
	return nil
}

// Phases shown in progress.
const (
	phaseWorking = "Working"
	phaseBackoff = "Backoff"
)

// ReconcileKind implements the generated customrun.Interface. Permanent
// failures return nil so nothing requeues; only transient errors go back
// to the workqueue.
func (r *Reconciler) ReconcileKind(ctx context.Context, run *v1beta1.CustomRun) kreconciler.Event {
	key := types.NamespacedName{Namespace: run.Namespace, Name: run.Name}
	r.stats.reconciled(ctx, kindOf(run))
	if run.IsDone() {
		r.jobs.forget(key)
		return nil
	}
	// Cancel comes before anything else, even a final status this process
	// wrote and the informer does not show yet: whatever kept that write
	// from landing must not keep the run from stopping.
	if run.IsCancelled() {
		r.cancel(ctx, run)
		return nil
	}
	if final, ok := r.jobs.finalStatus(run.UID); ok {
		// The informer has not caught up with the final status this
		// process already wrote. Writing the very same status again is a
		// no-op on the server; finishing again would emit a second event
		// and overwrite the completion time.
		run.Status = *final
		return nil
	}
	if retried, ok := r.jobs.retriedStatus(run.UID, len(run.Status.RetriesStatus)); ok {
		// The same for a retry: the attempt this copy shows as running has
		// failed and been archived already.
		run.Status = *retried
		if wait := r.backingOff(run); wait > 0 {
			return controller.NewRequeueAfter(wait)
		}
		return nil // the informer's update wakes the run
	}
	before := run.Status.GetCondition(apis.ConditionSucceeded).DeepCopy()
	defer r.observe(ctx, run, before)
	if !run.HasStarted() {
		r.start(run)
	}
	kind, job, err := r.plan(run)
	if err != nil {
		var pe *planError
		errors.As(err, &pe)
		r.fail(run, pe.reason, pe.message)
		return nil
	}
	if run.HasTimedOut(r.Clock) {
		r.jobs.forget(key)
		return r.retryOrFail(ctx, run, v1beta1.CustomRunReasonTimedOut.String(),
			fmt.Sprintf("%s %q did not finish within its timeout of %s", kind.Name(), run.Name, run.GetTimeout()))
	}
	if wait := r.backingOff(run); wait > 0 {
		return controller.NewRequeueAfter(wait)
	}
	return r.work(ctx, run, kind, job)
}

// cancel stops the run's work and fails it as cancelled.
func (r *Reconciler) cancel(ctx context.Context, run *v1beta1.CustomRun) {
	before := run.Status.GetCondition(apis.ConditionSucceeded).DeepCopy()
	defer r.observe(ctx, run, before)
	r.jobs.forget(types.NamespacedName{Namespace: run.Namespace, Name: run.Name})
	if !run.HasStarted() {
		r.start(run)
	}
	r.fail(run, v1beta1.CustomRunReasonCancelled.String(), cancelMessage(run))
}

// backingOff is how long the run still waits before its next attempt.
func (r *Reconciler) backingOff(run *v1beta1.CustomRun) time.Duration {
	var p progress
	if run.Status.DecodeExtraFields(&p) != nil || p.Phase != phaseBackoff || p.Until == nil {
		return 0
	}
	return p.Until.Sub(r.Clock.Now())
}

func (r *Reconciler) phase(run *v1beta1.CustomRun) string {
	var p progress
	if run.Status.DecodeExtraFields(&p) != nil {
		return ""
	}
	return p.Phase
}

// start marks a new run started. StartTime is never before the run was
// created, which can happen with clock skew between nodes.
func (r *Reconciler) start(run *v1beta1.CustomRun) {
	run.Status.InitializeConditions()
	now := r.Clock.Now()
	if now.Before(run.CreationTimestamp.Time) {
		now = run.CreationTimestamp.Time
	}
	run.Status.StartTime = &metav1.Time{Time: now}
}

// work asks for the current attempt's outcome and turns it into status.
func (r *Reconciler) work(ctx context.Context, run *v1beta1.CustomRun, kind kinds.Kind, job kinds.Job) kreconciler.Event {
	attempt := run.GetRetryCount()
	k := jobKey{run: types.NamespacedName{Namespace: run.Namespace, Name: run.Name}, uid: run.UID, attempt: attempt}
	out, done := r.jobs.outcome(k, job)
	if !done {
		// Started becomes Running; Retrying stays visible until the new
		// attempt ends, saying it works now that its backoff is over.
		switch c := run.Status.GetCondition(apis.ConditionSucceeded); {
		case c == nil || c.Reason == v1beta1.CustomRunReasonStarted.String():
			run.Status.MarkCustomRunRunning(v1beta1.CustomRunReasonRunning.String(), "%s is working (attempt %d)", kind.Name(), attempt+1)
		case c.Reason == ReasonRetrying && r.phase(run) == phaseBackoff:
			run.Status.MarkCustomRunRunning(ReasonRetrying, "%s is working (attempt %d, after %d failed)", kind.Name(), attempt+1, attempt)
		}
		p := progress{Kind: kind.Name(), Attempt: attempt, Phase: phaseWorking, Since: *run.Status.StartTime, Detail: r.jobs.progress(k)}
		if err := setProgress(run, p); err != nil {
			return err
		}
		// The job wakes the run when it finishes; this requeue only makes
		// sure the timeout is noticed even if nothing else happens.
		return requeueForTimeout(r.Clock, run)
	}
	var failure *kinds.Failure
	switch {
	case errors.As(out.err, &failure):
		// The failure path stores results too, so it checks them as the
		// success path does; results past the limits are withheld.
		msg := failure.Message
		if err := failure.Results.Check(); err != nil {
			setResults(run, nil)
			msg += "; results withheld: " + err.Error()
		} else {
			setResults(run, failure.Results)
		}
		return r.retryOrFail(ctx, run, failure.Reason, msg)
	case out.err != nil:
		return r.retryOrFail(ctx, run, ReasonError, out.err.Error())
	}
	if err := out.results.Check(); err != nil {
		r.fail(run, ReasonResultTooLarge, err.Error())
		return nil
	}
	setResults(run, out.results)
	run.Status.ExtraFields.Raw = nil
	run.Status.MarkCustomRunSucceeded(v1beta1.CustomRunReasonSuccessful.String(), "%s succeeded", kind.Name())
	return nil
}

// retryOrFail ends the current attempt. While spec.retries (at most
// MaxRetries) allows, the attempt is archived in retriesStatus and the next
// one starts after a backoff, in a later reconcile; otherwise the run fails
// for good.
func (r *Reconciler) retryOrFail(ctx context.Context, run *v1beta1.CustomRun, reason, message string) kreconciler.Event {
	retries := min(run.Spec.Retries, MaxRetries)
	if retries <= run.GetRetryCount() {
		r.fail(run, reason, message)
		return nil
	}
	archived := run.Status.DeepCopy()
	archived.RetriesStatus = nil
	archived.ExtraFields.Raw = nil
	archived.MarkCustomRunFailed(reason, "%s", capMessage(message))
	run.Status.RetriesStatus = append(run.Status.RetriesStatus, *archived)
	n := run.GetRetryCount()
	wait := r.retryDelay(n)
	// The next attempt's clock (and its timeout) starts when it does.
	until := metav1.Time{Time: r.Clock.Now().Add(wait)}
	run.Status.Results = nil
	run.Status.StartTime = &until
	run.Status.CompletionTime = nil
	capped := ""
	if run.Spec.Retries > MaxRetries {
		capped = fmt.Sprintf("; spec.retries %d is capped at %d", run.Spec.Retries, MaxRetries)
	}
	run.Status.MarkCustomRunRunning(ReasonRetrying, "%s", capMessage(fmt.Sprintf("attempt %d of %d failed (%s); the next starts in %s%s", n, retries+1, reason, wait, capped)))
	if err := setProgress(run, progress{Kind: kindOf(run), Attempt: n, Phase: phaseBackoff, Since: metav1.Time{Time: r.Clock.Now()}, Until: &until}); err != nil {
		return err
	}
	r.jobs.retry(run.UID, types.NamespacedName{Namespace: run.Namespace, Name: run.Name}, &run.Status)
	// Each retry gets its own Event here: observe skips Retrying, whose
	// message changes with every attempt.
	r.event(ctx, run, corev1.EventTypeWarning, ReasonRetrying, run.Status.GetCondition(apis.ConditionSucceeded).Message)
	return controller.NewRequeueAfter(wait)
}

func (r *Reconciler) retryDelay(n int) time.Duration {
	if r.RetryDelay != nil {
		return max(r.RetryDelay(n), 0)
	}
	d := retryBaseDelay
	for i := 1; i < n && d < retryMaxDelay; i++ {
		d *= 2
	}
	return min(d, retryMaxDelay)
}

// fail ends the run. Every final message passes here (or through
// capMessage), so none is larger than MaxMessageBytes.
func (r *Reconciler) fail(run *v1beta1.CustomRun, reason, message string) {
	run.Status.ExtraFields.Raw = nil
	run.Status.MarkCustomRunFailed(reason, "%s", capMessage(message))
}

// capMessage is the one cap on what a condition or an Event says.
func capMessage(s string) string { return results.Fit(s, MaxMessageBytes) }

func setResults(run *v1beta1.CustomRun, rs results.Results) {
	run.Status.Results = nil
	for _, res := range rs {
		run.Status.Results = append(run.Status.Results, v1beta1.CustomRunResult{Name: res.Name, Value: res.Value})
	}
}

func cancelMessage(run *v1beta1.CustomRun) string {
	if msg := string(run.Spec.StatusMessage); msg != "" {
		return msg
	}
	return "the CustomRun was cancelled"
}

// requeueForTimeout wakes the run when its timeout expires (a little after,
// so HasTimedOut is true by then). No timeout means no requeue.
func requeueForTimeout(c clock.PassiveClock, run *v1beta1.CustomRun) kreconciler.Event {
	timeout := run.GetTimeout()
	if timeout <= 0 {
		return nil
	}
	left := timeout - c.Since(run.Status.StartTime.Time)
	return controller.NewRequeueAfter(max(left, 0) + 50*time.Millisecond)
}

// observe emits an Event and updates metrics when the Succeeded condition
// changed in this reconcile.
func (r *Reconciler) observe(ctx context.Context, run *v1beta1.CustomRun, before *apis.Condition) {
	after := run.Status.GetCondition(apis.ConditionSucceeded)
	if after == nil || (before != nil && before.Status == after.Status && before.Reason == after.Reason && before.Message == after.Message) {
		return
	}
	if !after.IsUnknown() {
		r.jobs.finished(run.UID, types.NamespacedName{Namespace: run.Namespace, Name: run.Name}, &run.Status)
	}
	eventType := corev1.EventTypeNormal
	if after.IsFalse() {
		eventType = corev1.EventTypeWarning
	}
	if after.Reason != ReasonRetrying { // retryOrFail emitted it
		r.event(ctx, run, eventType, after.Reason, after.Message)
	}
	if !after.IsUnknown() {
		r.stats.finished(ctx, kindOf(run), after, run.CreationTimestamp.Time, r.Clock.Now())
	}
}

func (r *Reconciler) event(ctx context.Context, run *v1beta1.CustomRun, eventType, reason, message string) {
	if rec := controller.GetEventRecorder(ctx); rec != nil {
		rec.Event(run, eventType, reason, capMessage(message))
	}
}
