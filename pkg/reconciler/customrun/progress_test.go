package customrun

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"k8s.io/apimachinery/pkg/types"
)

// watcher is a test-only kind that reports progress, then waits until
// released.
type watcher struct{ release chan struct{} }

func (watcher) Name() string          { return "Watcher" }
func (watcher) Params() []kinds.Param { return nil }
func (w watcher) Plan(req kinds.Request) (kinds.Job, error) {
	return func(ctx context.Context) (results.Results, error) {
		req.ReportProgress(map[string]any{"phase": "Watching", "started": req.Started.UTC().Format(time.RFC3339)})
		select {
		case <-w.release:
			return results.Results{{Name: "done", Value: "yes"}}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, nil
}

// A job's progress reaches the run's status.extraFields, with the durable
// start time the job was given.
func TestProgressReachesStatus(t *testing.T) {
	h := newHarness(t)
	w := watcher{release: make(chan struct{})}
	h.r.kinds["Watcher"] = w
	h.r.jobs.progressEvery = 10 * time.Millisecond
	run := parseRun(t, `spec: {customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Watcher}}`)
	_ = h.r.ReconcileKind(h.ctx, run)
	select {
	case <-h.woken:
	case <-time.After(5 * time.Second):
		t.Fatal("the progress report did not wake the run")
	}
	_ = h.r.ReconcileKind(h.ctx, run)
	var p struct {
		Phase  string         `json:"phase"`
		Detail map[string]any `json:"detail"`
	}
	if err := json.Unmarshal(run.Status.ExtraFields.Raw, &p); err != nil {
		t.Fatalf("extraFields %s: %v", run.Status.ExtraFields.Raw, err)
	}
	if p.Phase != "Working" || p.Detail["phase"] != "Watching" || p.Detail["started"] != run.Status.StartTime.UTC().Format(time.RFC3339) {
		t.Fatalf("progress %s", run.Status.ExtraFields.Raw)
	}
	close(w.release)
	h.reconcile(run)
	if !run.IsSuccessful() || len(run.Status.ExtraFields.Raw) != 0 {
		t.Fatalf("done: %+v", run.Status)
	}
}

// A job that idles gives its slot up: with one slot, a second job runs
// while the first waits, and the first still finishes after its wait.
func TestIdleGivesUpTheSlot(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	woken := make(chan types.NamespacedName, 4)
	js := newJobs(ctx, 1, 0, func(k types.NamespacedName) { woken <- k })
	idler := jobKey{run: types.NamespacedName{Name: "idler"}, attempt: 0}
	quick := jobKey{run: types.NamespacedName{Name: "quick"}, attempt: 0}
	js.outcome(idler, func(ctx context.Context) (results.Results, error) {
		if !js.idle(ctx, 500*time.Millisecond) {
			return nil, ctx.Err()
		}
		return results.Results{{Name: "r", Value: "idled"}}, nil
	})
	time.Sleep(50 * time.Millisecond) // the idler holds, then gives up, the slot
	start := time.Now()
	js.outcome(quick, func(context.Context) (results.Results, error) {
		return results.Results{{Name: "r", Value: "quick"}}, nil
	})
	if k := <-woken; k.Name != "quick" || time.Since(start) > 300*time.Millisecond {
		t.Fatalf("%s finished first, after %s", k.Name, time.Since(start))
	}
	if k := <-woken; k.Name != "idler" {
		t.Fatalf("then %s", k.Name)
	}
	if o, ok := js.outcome(idler, nil); !ok || o.results[0].Value != "idled" {
		t.Fatalf("idler: %+v %v", o, ok)
	}
}

// quiet is a test-only kind that reports no progress and waits until
// released: between two reconciles nothing about its run changes.
type quiet struct{ release chan struct{} }

func (quiet) Name() string          { return "Quiet" }
func (quiet) Params() []kinds.Param { return nil }
func (q quiet) Plan(kinds.Request) (kinds.Job, error) {
	return func(ctx context.Context) (results.Results, error) {
		select {
		case <-q.release:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, nil
}

// A running run whose extraFields came back from the API server with their
// keys sorted is left as it is: re-encoding them in struct order would be a
// status update of its own on every reconcile, changing nothing.
func TestProgressInServerOrderIsNotRewritten(t *testing.T) {
	h := newHarness(t)
	q := quiet{release: make(chan struct{})}
	defer close(q.release)
	h.r.kinds["Quiet"] = q
	run := parseRun(t, `spec: {customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Quiet}}`)
	_ = h.r.ReconcileKind(h.ctx, run)
	var fields map[string]any
	if err := json.Unmarshal(run.Status.ExtraFields.Raw, &fields); err != nil {
		t.Fatal(err)
	}
	sorted, _ := json.Marshal(fields) // what the API server returns
	run.Status.ExtraFields.Raw = sorted
	if string(sorted) == string(mustProgress(t, run)) {
		t.Fatal("the test needs progress whose struct order is not sorted")
	}
	_ = h.r.ReconcileKind(h.ctx, run)
	if got := string(run.Status.ExtraFields.Raw); got != string(sorted) {
		t.Errorf("extraFields rewritten:\n%s\nwas\n%s", got, sorted)
	}
}

// mustProgress is run's progress encoded in struct order.
func mustProgress(t *testing.T, run *v1beta1.CustomRun) []byte {
	t.Helper()
	var p progress
	if err := json.Unmarshal(run.Status.ExtraFields.Raw, &p); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
