package localcluster

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/tools"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// TestTkn runs the real tkn, built from the cli module, the way users start
// a Task: `tkn task start … --use-param-defaults --showlog`, against a node
// where the TaskRun runs in a real pod and tkn streams its log.
func TestTkn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tkn and starts a control plane and a node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tk, err := tools.EnsureTkn(ctx, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, tk.Tkn, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Client version: "+tools.TknVersion) {
		t.Fatalf("tkn version: %v\n%s", err, out)
	}

	c := ForTest(t, Config{Node: true})
	tc, err := tekton.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		t.Fatal(err)
	}
	task := &pipelinev1.Task{
		ObjectMeta: metav1.ObjectMeta{Name: "greet", Namespace: "default"},
		Spec: pipelinev1.TaskSpec{
			Params: []pipelinev1.ParamSpec{{Name: "who", Type: pipelinev1.ParamTypeString,
				Default: pipelinev1.NewStructuredValues("the-default")}},
			Steps: []pipelinev1.Step{{
				Name: "say", Image: c.Images.Busybox,
				Script: "#!/bin/sh\necho \"hello $(params.who) via tkn\"\n",
			}},
		},
	}
	if _, err := tc.TektonV1().Tasks("default").Create(ctx, task, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, tk.Tkn, "task", "start", "greet", "--use-param-defaults", "--showlog",
		"-n", "default", "--kubeconfig", c.Kubeconfig(UserAdmin))
	out, err = cmd.CombinedOutput()
	t.Logf("tkn task start --showlog took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("tkn task start: %v", err)
	}
	if !strings.Contains(string(out), "hello the-default via tkn") {
		t.Errorf("tkn's log output lacks the step's line %q", "hello the-default via tkn")
	}
	// --showlog returns when the step's log ends; the Tekton controller
	// marks the TaskRun done a reconcile later, so wait for that.
	deadline := time.Now().Add(60 * time.Second)
	for {
		runs, err := tc.TektonV1().TaskRuns("default").List(ctx, metav1.ListOptions{})
		if err != nil || len(runs.Items) != 1 {
			t.Fatalf("taskruns after tkn task start: %v (%v)", runs, err)
		}
		cond := runs.Items[0].Status.GetCondition(apis.ConditionSucceeded)
		if cond != nil && cond.Status != corev1.ConditionUnknown || time.Now().After(deadline) {
			if cond == nil || !cond.IsTrue() {
				t.Errorf("taskrun %s not Succeeded: %+v", runs.Items[0].Name, runs.Items[0].Status.Conditions)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
