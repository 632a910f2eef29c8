package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/yaml"
)

func needCluster(t *testing.T) {
	t.Helper()
	if env == nil {
		t.Skip("e2e needs the local cluster (not started in -short mode)")
	}
}

// namespace creates a fresh namespace for one test and deletes it after.
func namespace(t *testing.T) string {
	t.Helper()
	needCluster(t)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%100000)
	ctx := context.Background()
	_, err := env.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = env.kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

func parse[T any](t *testing.T, y string) *T {
	t.Helper()
	obj := new(T)
	if err := yaml.UnmarshalStrict([]byte(y), obj); err != nil {
		t.Fatalf("parse %T: %v\n%s", obj, err, y)
	}
	return obj
}

func createCustomRun(t *testing.T, ns, y string) *v1beta1.CustomRun {
	t.Helper()
	run := parse[v1beta1.CustomRun](t, y)
	got, err := env.tekton.TektonV1beta1().CustomRuns(ns).Create(context.Background(), run, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create CustomRun: %v", err)
	}
	return got
}

// waitCustomRun polls until cond holds and returns the run.
func waitCustomRun(t *testing.T, ns, name string, timeout time.Duration, what string, cond func(*v1beta1.CustomRun) bool) *v1beta1.CustomRun {
	t.Helper()
	var last *v1beta1.CustomRun
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		run, err := env.tekton.TektonV1beta1().CustomRuns(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = run
			if cond(run) {
				return run
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("CustomRun %s/%s: not %s within %s; last status: %s", ns, name, what, timeout, statusOf(last))
	return nil
}

func waitDone(t *testing.T, ns, name string) *v1beta1.CustomRun {
	t.Helper()
	return waitCustomRun(t, ns, name, 60*time.Second, "done", func(r *v1beta1.CustomRun) bool { return r.IsDone() })
}

func waitPipelineRun(t *testing.T, ns, name string, timeout time.Duration) *pipelinev1.PipelineRun {
	t.Helper()
	var last *pipelinev1.PipelineRun
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		pr, err := env.tekton.TektonV1().PipelineRuns(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = pr
			if c := pr.Status.GetCondition(apis.ConditionSucceeded); c != nil && !c.IsUnknown() {
				return pr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := yaml.Marshal(last)
	t.Fatalf("PipelineRun %s/%s not done within %s:\n%s", ns, name, timeout, b)
	return nil
}

// customRunOf finds the CustomRun Tekton created for a pipeline task.
func customRunOf(t *testing.T, ns, prName, pipelineTask string) *v1beta1.CustomRun {
	t.Helper()
	var runs *v1beta1.CustomRunList
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		runs, err = env.tekton.TektonV1beta1().CustomRuns(ns).List(context.Background(), metav1.ListOptions{
			LabelSelector: "tekton.dev/pipelineRun=" + prName + ",tekton.dev/pipelineTask=" + pipelineTask,
		})
		if err == nil && len(runs.Items) == 1 {
			return &runs.Items[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no CustomRun for pipeline task %q of %s/%s", pipelineTask, ns, prName)
	return nil
}

func condition(run *v1beta1.CustomRun) *apis.Condition {
	if c := run.Status.GetCondition(apis.ConditionSucceeded); c != nil {
		return c
	}
	return &apis.Condition{}
}

func statusOf(run *v1beta1.CustomRun) string {
	if run == nil {
		return "<none>"
	}
	c := condition(run)
	return fmt.Sprintf("%s/%s %q results=%v retries=%d", c.Status, c.Reason, c.Message, run.Status.Results, len(run.Status.RetriesStatus))
}

func result(run *v1beta1.CustomRun, name string) string {
	for _, r := range run.Status.Results {
		if r.Name == name {
			return r.Value
		}
	}
	return ""
}

// eventCount sums the Events with this reason about one object; the event
// recorder folds repeats into one Event with a count.
func eventCount(t *testing.T, ns, name, reason string) int {
	t.Helper()
	evs, err := env.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.name=" + name + ",reason=" + reason,
	})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	n := 0
	for _, e := range evs.Items {
		n += int(max(e.Count, 1))
	}
	return n
}
