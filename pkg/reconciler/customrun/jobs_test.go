package customrun

import (
	"context"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/results"
	"k8s.io/apimachinery/pkg/types"
)

// A controller that shuts down (a rolling upgrade replaces it) while a job
// runs reports no outcome for it: the run must not be failed with
// "context canceled", the next leader runs the attempt again.
func TestShutdownLeavesJobsWithoutOutcome(t *testing.T) {
	base, shutdown := context.WithCancel(context.Background())
	woken := make(chan types.NamespacedName, 1)
	js := newJobs(base, 1, 0, func(k types.NamespacedName) { woken <- k })
	started := make(chan struct{})
	k := jobKey{run: types.NamespacedName{Namespace: "ns", Name: "scan"}, uid: "u"}
	if _, ok := js.outcome(k, func(ctx context.Context) (results.Results, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}); ok {
		t.Fatal("a blocked job reported an outcome at once")
	}
	<-started
	shutdown()
	select {
	case <-woken:
		t.Fatal("the job cut short by shutdown woke its run up to be finished")
	case <-time.After(200 * time.Millisecond):
	}
	if _, ok := js.outcome(k, nil); ok {
		t.Error("the job cut short by shutdown has an outcome")
	}
}
