package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"
)

func createPipelineRun(t *testing.T, ns, y string) *pipelinev1.PipelineRun {
	t.Helper()
	pr := parse[pipelinev1.PipelineRun](t, y)
	got, err := env.tekton.TektonV1().PipelineRuns(ns).Create(context.Background(), pr, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create PipelineRun: %v", err)
	}
	return got
}

// A result of one modelguard custom task feeds the next through
// $(tasks.X.results.Y), all through the real Tekton controller.
func TestPipelineResultFeedsNextTask(t *testing.T) {
	ns := namespace(t)
	createPipelineRun(t, ns, `
metadata: {name: results}
spec:
  pipelineSpec:
    tasks:
      - name: first
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
        params: [{name: message, value: hello}]
      - name: second
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
        params: [{name: message, value: "$(tasks.first.results.message)-world"}]
    results:
      - name: greeting
        value: $(tasks.second.results.message)`)
	pr := waitPipelineRun(t, ns, "results", 60*time.Second)
	if c := pr.Status.GetCondition(apis.ConditionSucceeded); !c.IsTrue() {
		t.Fatalf("PipelineRun %s/%s: %s", c.Status, c.Reason, c.Message)
	}
	second := customRunOf(t, ns, "results", "second")
	if got := result(second, "message"); got != "hello-world" {
		t.Fatalf("second task's message = %q; want hello-world", got)
	}
	if len(pr.Status.Results) != 1 || pr.Status.Results[0].Value.StringVal != "hello-world" {
		t.Fatalf("pipeline results = %+v; want greeting=hello-world", pr.Status.Results)
	}
}

// Cancelling the PipelineRun reaches the CustomRun, which ends at once with
// reason CustomRunCancelled instead of working on.
func TestPipelineCancelEndsCustomRun(t *testing.T) {
	ns := namespace(t)
	createPipelineRun(t, ns, `
metadata: {name: cancel}
spec:
  pipelineSpec:
    tasks:
      - name: slow
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
        params: [{name: message, value: hi}, {name: sleep, value: 1h}]`)
	run := customRunOf(t, ns, "cancel", "slow")
	waitCustomRun(t, ns, run.Name, 30*time.Second, "running", func(r *v1beta1.CustomRun) bool { return condition(r).Reason == "Running" })
	// Tekton v1.15.0 cancels the children listed in the PipelineRun's
	// status; a cancel that lands before that list is written leaves the
	// child running (until its own timeout). Cancel once it is listed.
	waitChildListed(t, ns, "cancel", run.Name)

	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"status": "Cancelled"}})
	if _, err := env.tekton.TektonV1().PipelineRuns(ns).Patch(context.Background(), "cancel", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("cancel PipelineRun: %v", err)
	}
	run = waitDone(t, ns, run.Name)
	if c := condition(run); c.Reason != "CustomRunCancelled" || !c.IsFalse() {
		t.Fatalf("CustomRun: %s", statusOf(run))
	}
	pr := waitPipelineRun(t, ns, "cancel", 30*time.Second)
	if c := pr.Status.GetCondition(apis.ConditionSucceeded); c.Reason != "Cancelled" {
		t.Fatalf("PipelineRun reason = %s; want Cancelled", c.Reason)
	}
}

// The pipeline's own timeout cancels the CustomRun through Tekton; a
// pipeline task's timeout becomes the CustomRun's spec.timeout, which the
// controller enforces itself (reason CustomRunTimedOut).
func TestPipelineTimeoutsEndCustomRuns(t *testing.T) {
	ns := namespace(t)
	createPipelineRun(t, ns, `
metadata: {name: pipeline-timeout}
spec:
  timeouts: {pipeline: 3s}
  pipelineSpec:
    tasks:
      - name: slow
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
        params: [{name: message, value: hi}, {name: sleep, value: 1h}]`)
	createPipelineRun(t, ns, `
metadata: {name: task-timeout}
spec:
  pipelineSpec:
    tasks:
      - name: slow
        timeout: 2s
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
        params: [{name: message, value: hi}, {name: sleep, value: 1h}]`)

	byPipeline := waitDone(t, ns, customRunOf(t, ns, "pipeline-timeout", "slow").Name)
	if c := condition(byPipeline); c.Reason != "CustomRunCancelled" {
		t.Errorf("pipeline timeout: CustomRun %s; want CustomRunCancelled", statusOf(byPipeline))
	}
	byTask := waitDone(t, ns, customRunOf(t, ns, "task-timeout", "slow").Name)
	if c := condition(byTask); c.Reason != "CustomRunTimedOut" {
		t.Errorf("task timeout: CustomRun %s; want CustomRunTimedOut", statusOf(byTask))
	}
	for _, name := range []string{"pipeline-timeout", "task-timeout"} {
		pr := waitPipelineRun(t, ns, name, 30*time.Second)
		if c := pr.Status.GetCondition(apis.ConditionSucceeded); !c.IsFalse() {
			t.Errorf("PipelineRun %s: %s/%s; want failed", name, c.Status, c.Reason)
		}
	}
}

// pipelineTask.retries reaches spec.retries; failed attempts are kept in
// retriesStatus and the run succeeds on the last allowed attempt.
func TestPipelineRetries(t *testing.T) {
	ns := namespace(t)
	createPipelineRun(t, ns, `
metadata: {name: retries}
spec:
  pipelineSpec:
    tasks:
      - name: flaky
        retries: 2
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
        params: [{name: message, value: third-time-lucky}, {name: fail-attempts, value: "2"}]`)
	pr := waitPipelineRun(t, ns, "retries", 60*time.Second)
	if c := pr.Status.GetCondition(apis.ConditionSucceeded); !c.IsTrue() {
		t.Fatalf("PipelineRun %s/%s: %s", c.Status, c.Reason, c.Message)
	}
	run := customRunOf(t, ns, "retries", "flaky")
	if len(run.Status.RetriesStatus) != 2 || result(run, "attempt") != "2" {
		t.Fatalf("CustomRun %s; want 2 archived attempts and success on attempt 2", statusOf(run))
	}
	for i, rs := range run.Status.RetriesStatus {
		if c := rs.GetCondition(apis.ConditionSucceeded); c.Reason != "EchoRefused" || !c.IsFalse() {
			t.Errorf("retriesStatus[%d] = %s/%s; want False/EchoRefused", i, c.Status, c.Reason)
		}
	}
	if n := eventCount(t, ns, run.Name, "Retrying"); n != 2 {
		t.Errorf("%d Retrying events; want 2", n)
	}
}

// waitChildListed waits until a PipelineRun's status lists a child.
func waitChildListed(t *testing.T, ns, prName, child string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		pr, err := env.tekton.TektonV1().PipelineRuns(ns).Get(context.Background(), prName, metav1.GetOptions{})
		if err == nil {
			for _, c := range pr.Status.ChildReferences {
				if c.Name == child {
					return
				}
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("PipelineRun %s/%s never listed child %s", ns, prName, child)
}
