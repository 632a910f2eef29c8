package customrun

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/controller"
)

// retries: 5000 with an attempt that fails at once ran all 5000 in one
// reconcile (1.5 MB of status, 5001 Events). Now one reconcile ends one
// attempt and asks to be woken after a backoff, spec.retries is capped at
// MaxRetries, and the final status stays small.
func TestRetriesAreCappedAndBackedOff(t *testing.T) {
	h := newHarness(t)
	run := parseRun(t, `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: fail-attempts, value: "100000"}]
  retries: 5000`)
	_ = h.r.ReconcileKind(h.ctx, run) // starts attempt 1
	<-h.woken
	ev := h.r.ReconcileKind(h.ctx, run) // it failed: archived, backing off
	ok, wait := controller.IsRequeueKey(ev)
	if !ok || wait != time.Second || len(run.Status.RetriesStatus) != 1 {
		t.Fatalf("first reconcile: requeue %v after %v, %d attempts archived; want one attempt, then 1s", ok, wait, len(run.Status.RetriesStatus))
	}
	c := run.Status.GetCondition(apis.ConditionSucceeded)
	if c.Reason != ReasonRetrying || !strings.Contains(c.Message, "spec.retries 5000 is capped at 10") {
		t.Fatalf("condition = %s %q", c.Reason, c.Message)
	}
	// Reconciling again before the backoff ends runs nothing.
	if ok, d := controller.IsRequeueKey(h.r.ReconcileKind(h.ctx, run)); !ok || d != time.Second || len(run.Status.RetriesStatus) != 1 {
		t.Fatalf("reconcile during backoff: requeue after %v, %d archived", d, len(run.Status.RetriesStatus))
	}
	var waits []time.Duration
	for i := 0; i < 100 && !run.IsDone(); i++ {
		ev := h.r.ReconcileKind(h.ctx, run)
		if ok, d := controller.IsRequeueKey(ev); ok && h.r.backingOff(run) > 0 {
			waits = append(waits, d)
			h.clock.Step(d)
		} else if !run.IsDone() {
			<-h.woken
		}
	}
	c = run.Status.GetCondition(apis.ConditionSucceeded)
	if !run.IsDone() || c.Reason != "EchoRefused" || len(run.Status.RetriesStatus) != MaxRetries {
		t.Fatalf("after the retries: done %v, %s, %d archived; want EchoRefused after %d retries", run.IsDone(), c.Reason, len(run.Status.RetriesStatus), MaxRetries)
	}
	if waits[len(waits)-1] != time.Minute || waits[2] != 4*time.Second {
		t.Errorf("backoff waits = %v; want doubling from 1s to a minute", waits)
	}
	if n := len(h.events.Events); n > MaxRetries+3 {
		t.Errorf("%d Events for %d attempts", n, MaxRetries+1)
	}
	b, _ := json.Marshal(run.Status)
	if len(b) > 64<<10 {
		t.Errorf("final status is %d bytes", len(b))
	}
}

// A failed attempt's message and results are bounded as a success's are:
// a 60 KB param a kind put in its message comes back cut to
// MaxMessageBytes, and results past the limits are withheld, not stored.
func TestFailurePathIsBounded(t *testing.T) {
	h := newHarness(t)
	big := strings.Repeat("p", 60<<10)
	run := parseRun(t, `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: fail-attempts, value: "9"}, {name: refuse-with, value: `+big+`}, {name: big-result, value: "true"}]
  retries: 1`)
	h.reconcile(run)
	c := run.Status.GetCondition(apis.ConditionSucceeded)
	if !run.IsDone() || c.Reason != "EchoRefused" || len(c.Message) > MaxMessageBytes || !strings.Contains(c.Message, "(cut)") {
		t.Fatalf("condition = %s, %d bytes", c.Reason, len(c.Message))
	}
	for _, st := range append([]v1beta1.CustomRunStatus{run.Status}, run.Status.RetriesStatus...) {
		if m := st.GetCondition(apis.ConditionSucceeded).Message; len(m) > MaxMessageBytes {
			t.Errorf("a message of %d bytes", len(m))
		}
		if len(st.Results) != 0 {
			t.Errorf("results past the limits were stored: %d", len(st.Results))
		}
	}
	for len(h.events.Events) > 0 {
		if e := <-h.events.Events; len(e) > MaxMessageBytes+64 {
			t.Errorf("an Event of %d bytes", len(e))
		}
	}
}

// Cancel wins over everything, even a final status this process recorded
// but could not write (the informer still shows the run working).
func TestCancelBeforeAnythingElse(t *testing.T) {
	h := newHarness(t)
	run := parseRun(t, `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: fail-attempts, value: "9"}]
  retries: 3`)
	_ = h.r.ReconcileKind(h.ctx, run)
	<-h.woken
	_ = h.r.ReconcileKind(h.ctx, run) // attempt 1 failed; backing off
	stale := run.DeepCopy()
	h.r.jobs.finished(run.UID, types.NamespacedName{Namespace: run.Namespace, Name: run.Name}, &run.Status)
	stale.Spec.Status = v1beta1.CustomRunSpecStatusCancelled
	_ = h.r.ReconcileKind(h.ctx, stale)
	if c := stale.Status.GetCondition(apis.ConditionSucceeded); c.Reason != "CustomRunCancelled" || !stale.IsDone() {
		t.Fatalf("condition = %s; want CustomRunCancelled", c.Reason)
	}
}

// A reconcile of a stale copy (the informer has not shown the retry yet)
// writes the retry this process wrote, and does not archive the same
// attempt or emit its Event a second time.
func TestStaleCopyDoesNotRetryTwice(t *testing.T) {
	h := newHarness(t)
	run := parseRun(t, `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: fail-attempts, value: "1"}]
  retries: 2`)
	_ = h.r.ReconcileKind(h.ctx, run)
	<-h.woken
	stale := run.DeepCopy()
	_ = h.r.ReconcileKind(h.ctx, run) // attempt 1 failed: archived, backing off
	if len(run.Status.RetriesStatus) != 1 {
		t.Fatalf("retriesStatus has %d entries", len(run.Status.RetriesStatus))
	}
	for len(h.events.Events) > 0 {
		<-h.events.Events
	}
	ev := h.r.ReconcileKind(h.ctx, stale)
	if len(stale.Status.RetriesStatus) != 1 || fmt.Sprint(stale.Status) != fmt.Sprint(run.Status) {
		t.Fatalf("stale reconcile wrote a different status:\n%v\nwant\n%v", stale.Status, run.Status)
	}
	if ok, d := controller.IsRequeueKey(ev); !ok || d != time.Second {
		t.Errorf("stale reconcile: %v; want a requeue at the end of the backoff", ev)
	}
	if n := len(h.events.Events); n != 0 {
		t.Fatalf("stale reconcile emitted %d events; want none", n)
	}
	h.reconcile(run)
	if !run.IsSuccessful() || len(run.Status.RetriesStatus) != 1 {
		t.Fatalf("run: %v, %d archived", run.Status.GetCondition(apis.ConditionSucceeded), len(run.Status.RetriesStatus))
	}
}
