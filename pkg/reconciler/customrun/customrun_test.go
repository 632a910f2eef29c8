package customrun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/controller"
	"sigs.k8s.io/yaml"
)

// echo is a test-only kind: it answers with its params, fails the first
// `fail-attempts` attempts, blocks while `block` is "true", and can return
// an oversized result.
type echo struct{}

func (echo) Name() string { return "Echo" }
func (echo) Params() []kinds.Param {
	return []kinds.Param{
		{Name: "message", Required: true},
		{Name: "fail-attempts"},
		{Name: "block"},
		{Name: "big-result"},
		{Name: "refuse-with"},
		{Name: "tags", Type: v1beta1.ParamTypeArray},
	}
}
func (echo) Plan(req kinds.Request) (kinds.Job, error) {
	msg := req.Params.String("message", "")
	if msg == "" {
		return nil, kinds.Invalid("message", "must not be empty")
	}
	var failN int
	if s := req.Params.String("fail-attempts", "0"); s != "" {
		if _, err := fmt.Sscan(s, &failN); err != nil {
			return nil, kinds.Invalid("fail-attempts", "must be a whole number, got %q", s)
		}
	}
	return func(ctx context.Context) (results.Results, error) {
		if req.Params.String("block", "") == "true" {
			blockedJobsStarted <- struct{}{}
			<-ctx.Done()
			blockedJobsCancelled <- struct{}{}
			return nil, ctx.Err()
		}
		if req.Attempt < failN {
			rs := results.Results{{Name: "attempt", Value: fmt.Sprint(req.Attempt)}}
			if req.Params.String("big-result", "") == "true" {
				rs = append(rs, results.Result{Name: "big", Value: strings.Repeat("x", results.MaxBytes+1)})
			}
			why := ""
			if w := req.Params.String("refuse-with", ""); w != "" {
				why = ": " + w // a kind that puts a param in its message, whole
			}
			return nil, kinds.Deny("EchoRefused", rs, "attempt %d refused%s", req.Attempt, why)
		}
		if req.Params.String("big-result", "") == "true" {
			return results.Results{{Name: "big", Value: strings.Repeat("x", results.MaxBytes+1)}}, nil
		}
		return results.Results{{Name: "message", Value: msg}, {Name: "attempt", Value: fmt.Sprint(req.Attempt)}}, nil
	}, nil
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// blockedJobsCancelled receives one value each time a blocking Echo job
// sees its context cancelled.
var blockedJobsCancelled = make(chan struct{}, 16)

// blockedJobsStarted receives one value each time a blocking job starts.
var blockedJobsStarted = make(chan struct{}, 16)

type harness struct {
	t      *testing.T
	r      *Reconciler
	clock  *clocktesting.FakeClock
	woken  chan types.NamespacedName
	events *record.FakeRecorder
	ctx    context.Context
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, clock: clocktesting.NewFakeClock(t0), woken: make(chan types.NamespacedName, 16), events: record.NewFakeRecorder(100)}
	h.ctx = controller.WithEventRecorder(ctx, h.events)
	h.r = &Reconciler{Clock: h.clock, kinds: map[string]kinds.Kind{"Echo": echo{}}, stats: newStats()}
	h.r.jobs = newJobs(ctx, 4, 0, func(k types.NamespacedName) { h.woken <- k })
	return h
}

// reconcile runs ReconcileKind until the run stops asking for work or the
// job has not finished within a second, like the workqueue would.
func (h *harness) reconcile(run *v1beta1.CustomRun) {
	h.t.Helper()
	for i := 0; i < 40; i++ {
		ev := h.r.ReconcileKind(h.ctx, run)
		if run.IsDone() {
			return
		}
		if ok, d := controller.IsRequeueKey(ev); ok && h.r.backingOff(run) > 0 {
			h.clock.Step(d) // the retry backoff
			continue
		}
		select {
		case <-h.woken:
		case <-time.After(time.Second):
			return
		}
	}
}

func parseRun(t *testing.T, y string) *v1beta1.CustomRun {
	t.Helper()
	run := &v1beta1.CustomRun{}
	if err := yaml.Unmarshal([]byte(y), run); err != nil {
		t.Fatalf("parse CustomRun: %v", err)
	}
	run.Namespace, run.Name, run.UID = "ns", "run", types.UID("uid-"+t.Name())
	return run
}

func TestReconcileOutcomes(t *testing.T) {
	big := strings.Repeat("a", 1<<20)
	for _, tc := range []struct {
		name, yaml  string
		wantStatus  string // True, False, Unknown
		wantReason  string
		wantMessage string // substring
		wantResults map[string]string
		wantRetries int
	}{{
		name: "succeeds with results",
		yaml: `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: hello}]`,
		wantStatus: "True", wantReason: "Succeeded", wantResults: map[string]string{"message": "hello", "attempt": "0"},
	}, {
		name: "customSpec works like customRef",
		yaml: `
spec:
  customSpec: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: hi}]`,
		wantStatus: "True", wantReason: "Succeeded", wantResults: map[string]string{"message": "hi", "attempt": "0"},
	}, {
		name:       "no params",
		yaml:       `spec: {customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}}`,
		wantStatus: "False", wantReason: ReasonInvalidParams, wantMessage: `param "message": required but not given`,
	}, {
		name:       "unknown kind",
		yaml:       `spec: {customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Nope}}`,
		wantStatus: "False", wantReason: ReasonUnknownKind, wantMessage: `no kind "Nope"; known kinds: Echo`,
	}, {
		name: "wrong param type",
		yaml: `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: [a, b]}, {name: tags, value: x}]`,
		wantStatus: "False", wantReason: ReasonInvalidParams,
		wantMessage: `param "message": must be of type string, got array; param "tags": must be of type array, got string`,
	}, {
		name: "unknown and duplicate params",
		yaml: `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: message, value: b}, {name: colour, value: red}]`,
		wantStatus: "False", wantReason: ReasonInvalidParams,
		wantMessage: `param "colour": unknown param; this kind accepts big-result, block, fail-attempts, message, refuse-with, tags; param "message": given more than once`,
	}, {
		name: "1 MiB param",
		yaml: `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: ` + big + `}]`,
		wantStatus: "False", wantReason: ReasonInvalidParams, wantMessage: `param "message": value is 1048576 bytes; the limit is 65536`,
	}, {
		name: "kind-level validation names the param",
		yaml: `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: fail-attempts, value: lots}]`,
		wantStatus: "False", wantReason: ReasonInvalidParams, wantMessage: `param "fail-attempts": must be a whole number, got "lots"`,
	}, {
		name: "customRef.name is refused",
		yaml: `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo, name: mine}
  params: [{name: message, value: a}]`,
		wantStatus: "False", wantReason: ReasonUnsupportedRef, wantMessage: `customRef.name "mine" is not supported`,
	}, {
		name: "workspaces are refused",
		yaml: `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}]
  workspaces: [{name: src, emptyDir: {}}]`,
		wantStatus: "False", wantReason: "CustomRunWorkspaceNotSupported", wantMessage: `remove workspace "src"`,
	}, {
		name: "cancelled by the pipeline",
		yaml: `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}]
  status: RunCancelled
  statusMessage: CustomRun cancelled as the PipelineRun it belongs to has been cancelled.`,
		wantStatus: "False", wantReason: "CustomRunCancelled", wantMessage: "PipelineRun it belongs to has been cancelled",
	}, {
		name: "retries until it succeeds",
		yaml: `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: fail-attempts, value: "2"}]
  retries: 2`,
		wantStatus: "True", wantReason: "Succeeded", wantRetries: 2, wantResults: map[string]string{"message": "a", "attempt": "2"},
	}, {
		name: "retries run out",
		yaml: `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: fail-attempts, value: "5"}]
  retries: 1`,
		wantStatus: "False", wantReason: "EchoRefused", wantMessage: "attempt 1 refused", wantRetries: 1,
		wantResults: map[string]string{"attempt": "1"},
	}, {
		name: "oversized result",
		yaml: `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: big-result, value: "true"}]`,
		wantStatus: "False", wantReason: ReasonResultTooLarge, wantMessage: `result "big" is 4097 bytes; the limit is 4096`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			run := parseRun(t, tc.yaml)
			h.reconcile(run)
			c := run.Status.GetCondition(apis.ConditionSucceeded)
			if c == nil {
				t.Fatal("no Succeeded condition")
			}
			if string(c.Status) != tc.wantStatus || c.Reason != tc.wantReason || !strings.Contains(c.Message, tc.wantMessage) {
				t.Fatalf("condition = %s/%s %q; want %s/%s containing %q", c.Status, c.Reason, c.Message, tc.wantStatus, tc.wantReason, tc.wantMessage)
			}
			if len(c.Message) > 2048 {
				t.Errorf("condition message is %d bytes; a value was echoed", len(c.Message))
			}
			got := map[string]string{}
			for _, r := range run.Status.Results {
				got[r.Name] = r.Value
			}
			if fmt.Sprint(got) != fmt.Sprint(orEmpty(tc.wantResults)) {
				t.Errorf("results = %v; want %v", got, tc.wantResults)
			}
			if n := len(run.Status.RetriesStatus); n != tc.wantRetries {
				t.Errorf("retriesStatus has %d entries; want %d", n, tc.wantRetries)
			}
			if run.IsDone() && run.Status.CompletionTime == nil {
				t.Error("done without completionTime")
			}
			// A finished run is left alone: reconciling again changes nothing
			// and asks for no requeue.
			if run.IsDone() {
				snapshot := run.Status.DeepCopy()
				if ev := h.r.ReconcileKind(h.ctx, run); ev != nil {
					t.Errorf("reconcile of a finished run returned %v", ev)
				}
				if fmt.Sprint(snapshot) != fmt.Sprint(&run.Status) {
					t.Error("reconcile of a finished run changed its status")
				}
			}
		})
	}
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func TestTimeoutCancelsWorkAndRetries(t *testing.T) {
	h := newHarness(t)
	run := parseRun(t, `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: block, value: "true"}]
  timeout: 1m
  retries: 1`)
	ev := h.r.ReconcileKind(h.ctx, run)
	if ok, d := controller.IsRequeueKey(ev); !ok || d <= 0 || d > time.Minute+time.Second {
		t.Fatalf("a working run should requeue at its timeout; got %v", ev)
	}
	if c := run.Status.GetCondition(apis.ConditionSucceeded); c.Reason != "Running" {
		t.Fatalf("reason = %s; want Running", c.Reason)
	}
	var p progress
	if err := run.Status.DecodeExtraFields(&p); err != nil || p.Phase != "Working" || p.Kind != "Echo" {
		t.Fatalf("extraFields = %s (%v); want Working progress", run.Status.ExtraFields.Raw, err)
	}

	waitFor(t, blockedJobsStarted)
	h.clock.Step(61 * time.Second)
	_ = h.r.ReconcileKind(h.ctx, run)
	if n := len(run.Status.RetriesStatus); n != 1 {
		t.Fatalf("after the first timeout retriesStatus has %d entries; want 1", n)
	}
	if c := run.Status.RetriesStatus[0].GetCondition(apis.ConditionSucceeded); c.Reason != "CustomRunTimedOut" {
		t.Fatalf("archived attempt reason = %s; want CustomRunTimedOut", c.Reason)
	}
	waitFor(t, blockedJobsCancelled) // the first attempt's job saw its context cancelled

	// The retry waits out its backoff, which does not count against the
	// timeout of the attempt it precedes.
	if c := run.Status.GetCondition(apis.ConditionSucceeded); c.Reason != ReasonRetrying || !strings.Contains(c.Message, "the next starts in 1s") {
		t.Fatalf("condition after the first timeout = %s %q", c.Reason, c.Message)
	}
	_ = h.r.ReconcileKind(h.ctx, run)
	select {
	case <-blockedJobsStarted:
		t.Fatal("the retry started before its backoff ended")
	case <-time.After(50 * time.Millisecond):
	}
	h.clock.Step(time.Second)
	_ = h.r.ReconcileKind(h.ctx, run)
	waitFor(t, blockedJobsStarted)
	h.clock.Step(61 * time.Second)
	_ = h.r.ReconcileKind(h.ctx, run)
	c := run.Status.GetCondition(apis.ConditionSucceeded)
	if c.Reason != "CustomRunTimedOut" || !c.IsFalse() {
		t.Fatalf("condition = %s/%s; want False/CustomRunTimedOut", c.Status, c.Reason)
	}
	waitFor(t, blockedJobsCancelled)
}

func TestCancelStopsRunningWork(t *testing.T) {
	h := newHarness(t)
	run := parseRun(t, `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: block, value: "true"}]`)
	_ = h.r.ReconcileKind(h.ctx, run)
	waitFor(t, blockedJobsStarted)
	run.Spec.Status = v1beta1.CustomRunSpecStatusCancelled
	_ = h.r.ReconcileKind(h.ctx, run)
	if c := run.Status.GetCondition(apis.ConditionSucceeded); c.Reason != "CustomRunCancelled" {
		t.Fatalf("reason = %s; want CustomRunCancelled", c.Reason)
	}
	waitFor(t, blockedJobsCancelled)
}

func TestEventsOnStateChanges(t *testing.T) {
	h := newHarness(t)
	run := parseRun(t, `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}]`)
	h.reconcile(run)
	var got []string
	for len(h.events.Events) > 0 {
		got = append(got, <-h.events.Events)
	}
	want := []string{"Normal Running Echo is working (attempt 1)", "Normal Succeeded Echo succeeded"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %q; want %q", got, want)
	}
}

func TestPanickingKindFailsTheAttempt(t *testing.T) {
	o := safeRun(context.Background(), func(context.Context) (results.Results, error) { panic("boom") })
	if o.err == nil || !strings.Contains(o.err.Error(), "boom") {
		t.Fatalf("err = %v; want the panic reported", o.err)
	}
	if errors.Is(o.err, context.Canceled) {
		t.Fatal("panic reported as cancellation")
	}
}

func waitFor[T any](t *testing.T, ch chan T) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("job did not finish")
	}
}

// A reconcile of a stale copy (the informer has not seen the final status
// yet) writes the same final status again and emits no second event.
func TestStaleCopyDoesNotFinishTwice(t *testing.T) {
	h := newHarness(t)
	run := parseRun(t, `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}]`)
	_ = h.r.ReconcileKind(h.ctx, run)
	stale := run.DeepCopy()
	h.reconcile(run)
	if !run.IsSuccessful() {
		t.Fatalf("run: %v", run.Status.GetCondition(apis.ConditionSucceeded))
	}
	for len(h.events.Events) > 0 {
		<-h.events.Events
	}
	h.clock.Step(time.Second)
	_ = h.r.ReconcileKind(h.ctx, stale)
	if fmt.Sprint(stale.Status) != fmt.Sprint(run.Status) {
		t.Fatalf("stale reconcile wrote a different status:\n%v\nwant\n%v", stale.Status, run.Status)
	}
	if n := len(h.events.Events); n != 0 {
		t.Fatalf("stale reconcile emitted %d events; want none", n)
	}
}
