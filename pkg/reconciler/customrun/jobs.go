package customrun

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"k8s.io/apimachinery/pkg/types"
)

// jobKey names one attempt of one CustomRun. The UID keeps a deleted and
// re-created run of the same name from seeing the old run's outcome.
type jobKey struct {
	run     types.NamespacedName
	uid     types.UID
	attempt int
}

// outcome is what a finished job left behind.
type outcome struct {
	results results.Results
	err     error
}

type job struct {
	cancel   context.CancelFunc
	done     *outcome      // nil while running
	finished chan struct{} // closed with done set

	// The job's last progress report, and when its run was last woken
	// for one (guarded by jobs.mu).
	progress any
	woken    time.Time
	pending  bool
	// holding: the job has a slot; Idle gives it up while it waits.
	holding bool
}

type jobCtxKey struct{}

// jobs runs kind Jobs off the reconcile workers. The reconciler asks for an
// attempt's outcome on every reconcile; a job that finishes wakes its run up
// through notify. Nothing here is durable: after a restart the reconciler
// sees a Running run with no job and starts the attempt again, which is why
// kinds.Job must be safe to repeat.
type jobs struct {
	base   context.Context // parent of every job; cancelled on shutdown
	notify func(types.NamespacedName)
	grace  time.Duration // how long the starting reconcile waits for a quick job
	slots  chan struct{} // caps jobs doing work at once
	// progressEvery bounds how often a job's progress wakes its run (one
	// status write each).
	progressEvery time.Duration

	mu  sync.Mutex
	all map[jobKey]*job
	// final holds the final status this process wrote for a run until the
	// informer shows it, so a reconcile of a stale copy does not finish the
	// run a second time.
	final map[types.UID]finalStatus
	// retried holds the status written when an attempt failed and the next
	// was scheduled, until the informer shows it, so a stale copy does not
	// archive the same attempt (and emit its Event) again.
	retried map[types.UID]finalStatus
}

type finalStatus struct {
	run    types.NamespacedName
	status *v1beta1.CustomRunStatus
}

func newJobs(base context.Context, maxConcurrent int, grace time.Duration, notify func(types.NamespacedName)) *jobs {
	return &jobs{
		base:    base,
		notify:  notify,
		grace:   grace,
		slots:   make(chan struct{}, maxConcurrent),
		all:     map[jobKey]*job{},
		final:   map[types.UID]finalStatus{},
		retried: map[types.UID]finalStatus{},

		progressEvery: 5 * time.Second,
	}
}

// outcome returns the attempt's outcome, starting the job when none is
// known. ok is false while the job is still running.
//
// A job that has just been started gets a short grace (a few
// milliseconds, bounded) to finish: quick kinds then finish in the reconcile
// that started them, with one status write instead of two, and slow ones
// cost the worker no more than the grace.
func (js *jobs) outcome(k jobKey, work kinds.Job) (o outcome, ok bool) {
	js.mu.Lock()
	j, found := js.all[k]
	if !found {
		ctx, cancel := context.WithCancel(js.base)
		j = &job{cancel: cancel, finished: make(chan struct{})}
		ctx = context.WithValue(ctx, jobCtxKey{}, j)
		js.all[k] = j
		go js.run(ctx, k, j, work)
	}
	js.mu.Unlock()
	if !found && js.grace > 0 {
		select {
		case <-j.finished:
		case <-time.After(js.grace):
		}
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	if j.done == nil {
		return outcome{}, false
	}
	return *j.done, true
}

func (js *jobs) run(ctx context.Context, k jobKey, j *job, work kinds.Job) {
	if !js.acquire(ctx, j) {
		js.finish(k, j, outcome{err: ctx.Err()})
		return
	}
	defer js.release(j)
	js.finish(k, j, safeRun(ctx, work))
}

func (js *jobs) acquire(ctx context.Context, j *job) bool {
	select {
	case js.slots <- struct{}{}:
		js.mu.Lock()
		j.holding = true
		js.mu.Unlock()
		return true
	case <-ctx.Done():
		return false
	}
}

func (js *jobs) release(j *job) {
	js.mu.Lock()
	held := j.holding
	j.holding = false
	js.mu.Unlock()
	if held {
		<-js.slots
	}
}

// idle is kinds.Request.Idle: the job gives its slot to another while it
// waits, and takes one again before it goes on. It reports false when ctx
// ended (during the wait or while waiting for a slot).
func (js *jobs) idle(ctx context.Context, d time.Duration) bool {
	j, _ := ctx.Value(jobCtxKey{}).(*job)
	if j != nil {
		js.release(j)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return j == nil || js.acquire(ctx, j)
}

// report is kinds.Request.Progress: it keeps the job's latest progress and
// wakes its run to write it, at most once per progressEvery.
func (js *jobs) report(k jobKey, v any) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.all[k]
	if !ok || j.done != nil {
		return
	}
	j.progress = v
	if j.pending {
		return
	}
	wait := js.progressEvery - time.Since(j.woken)
	if wait <= 0 {
		j.woken = time.Now()
		go js.notify(k.run)
		return
	}
	j.pending = true
	time.AfterFunc(wait, func() {
		js.mu.Lock()
		j.pending, j.woken = false, time.Now()
		current := js.all[k] == j && j.done == nil
		js.mu.Unlock()
		if current {
			js.notify(k.run)
		}
	})
}

// progress is the attempt's latest reported progress, or nil.
func (js *jobs) progress(k jobKey) any {
	js.mu.Lock()
	defer js.mu.Unlock()
	if j, ok := js.all[k]; ok {
		return j.progress
	}
	return nil
}

// safeRun turns a panicking kind into a failed attempt instead of a dead
// controller.
func safeRun(ctx context.Context, work kinds.Job) (o outcome) {
	defer func() {
		if p := recover(); p != nil {
			o = outcome{err: fmt.Errorf("internal error in the kind: %v", p)}
		}
	}()
	rs, err := work(ctx)
	return outcome{results: rs, err: err}
}

func (js *jobs) finish(k jobKey, j *job, o outcome) {
	// A job cut short by this process shutting down has no outcome: its
	// run stays Running and the next leader starts the attempt again (a
	// rolling upgrade must not fail the runs in flight).
	if js.base.Err() != nil {
		return
	}
	js.mu.Lock()
	j.done = &o
	close(j.finished)
	current := js.all[k] == j
	js.mu.Unlock()
	if current {
		js.notify(k.run)
	}
}

// finished records the final status written for a run and stops its jobs.
func (js *jobs) finished(uid types.UID, run types.NamespacedName, st *v1beta1.CustomRunStatus) {
	js.forget(run)
	js.mu.Lock()
	defer js.mu.Unlock()
	js.final[uid] = finalStatus{run: run, status: st.DeepCopy()}
}

// finalStatus returns the final status this process wrote for a run whose
// informer copy may not show it yet.
func (js *jobs) finalStatus(uid types.UID) (*v1beta1.CustomRunStatus, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	f, ok := js.final[uid]
	if !ok {
		return nil, false
	}
	return f.status.DeepCopy(), true
}

// retry records the status written when a run's attempt failed and the
// next was scheduled.
func (js *jobs) retry(uid types.UID, run types.NamespacedName, st *v1beta1.CustomRunStatus) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.retried[uid] = finalStatus{run: run, status: st.DeepCopy()}
}

// retriedStatus returns the status this process wrote for a run's last
// retry when the run's copy has fewer archived attempts: the informer has
// not shown that write yet. Once it has, the record goes.
func (js *jobs) retriedStatus(uid types.UID, archived int) (*v1beta1.CustomRunStatus, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	r, ok := js.retried[uid]
	if !ok {
		return nil, false
	}
	if len(r.status.RetriesStatus) <= archived {
		delete(js.retried, uid)
		return nil, false
	}
	return r.status.DeepCopy(), true
}

// forget cancels and drops every attempt of a run and its recorded final
// status, e.g. when the informer shows it done, or it was deleted.
func (js *jobs) forget(run types.NamespacedName) {
	js.mu.Lock()
	defer js.mu.Unlock()
	for k, j := range js.all {
		if k.run == run {
			j.cancel()
			delete(js.all, k)
		}
	}
	for uid, f := range js.final {
		if f.run == run {
			delete(js.final, uid)
		}
	}
	for uid, f := range js.retried {
		if f.run == run {
			delete(js.retried, uid)
		}
	}
}

// forgetAll cancels everything, e.g. when this replica stops being leader:
// the new leader starts the attempts again.
func (js *jobs) forgetAll() {
	js.mu.Lock()
	defer js.mu.Unlock()
	for k, j := range js.all {
		j.cancel()
		delete(js.all, k)
	}
	clear(js.final)
	clear(js.retried)
}

// running counts jobs without an outcome, for tests and metrics.
func (js *jobs) running() int {
	js.mu.Lock()
	defer js.mu.Unlock()
	n := 0
	for _, j := range js.all {
		if j.done == nil {
			n++
		}
	}
	return n
}
