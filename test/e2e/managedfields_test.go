package e2e

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The controller caches CustomRuns without their managedFields; its
// status writes must not reset the server's: after a run the server still
// records the creator's fields and the controller's status.
func TestStatusWritesKeepManagedFields(t *testing.T) {
	ns := namespace(t)
	createCustomRun(t, ns, `
metadata: {name: echo}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: hi}]`)
	if run := waitDone(t, ns, "echo"); !run.IsSuccessful() {
		t.Fatalf("echo: %s", statusOf(run))
	}
	got, err := env.tekton.TektonV1beta1().CustomRuns(ns).Get(context.Background(), "echo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var spec, status bool
	for _, m := range got.ManagedFields {
		spec = spec || m.Subresource == ""
		status = status || m.Subresource == "status"
	}
	if !spec || !status {
		t.Errorf("managedFields after the run: %+v; want the creator's and the status writer's", got.ManagedFields)
	}
}
