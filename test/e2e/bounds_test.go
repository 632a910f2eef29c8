package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// The guard lists the objects of a namespace someone else filled: it
// follows the API server's pages and stops at its cap with a clear error,
// whatever the namespace holds. Pages of 2 and a cap of 5 stand for the
// defaults (500, 5000) so the test makes a handful of objects, not
// thousands.
func TestGuardListsAreBounded(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	ns := targetNamespace(t, "many", handOver{profile: guard.Dev})
	cfg := env.cluster.RESTConfig(localcluster.UserAdmin)
	engine := &guard.Engine{Kube: env.kube, Dynamic: dynamic.NewForConfigOrDie(cfg), ListPage: 2, ListCap: 5}
	spec := &guard.Spec{Namespace: ns, Profile: "dev", PodSecurity: "restricted"}
	bind := func(i int) {
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("someone-else-%d", i)},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "team"}}}
		if _, err := env.kube.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		bind(i)
	}
	if _, err := engine.Plan(ctx, spec, ""); err != nil {
		t.Fatalf("5 RoleBindings in pages of 2, cap 5: %v", err)
	}
	bind(5)
	_, err := engine.Plan(ctx, spec, "")
	if !errors.Is(err, guard.ErrTooManyObjects) {
		t.Fatalf("6 RoleBindings, cap 5: %v", err)
	}
	t.Logf("refused: %v", err)
}

// retries: 5000 with an attempt that fails at once ran all 5000 in one
// reconcile and grew the status past what etcd stores, after which the
// run could neither finish nor be cancelled. Now attempts are spaced by a
// backoff, spec.retries is capped (the message says so), and a cancel
// ends the run within a reconcile.
func TestRetriesBackOffAndCancel(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	createCustomRun(t, ns, `
metadata: {name: flaky}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: a}, {name: fail-attempts, value: "100000"}]
  retries: 5000`)
	run := waitCustomRun(t, ns, "flaky", 30*time.Second, "the second retry", func(r *v1beta1.CustomRun) bool {
		return len(r.Status.RetriesStatus) >= 2
	})
	time.Sleep(time.Second) // the third attempt is due 4 s after the second
	run, err := env.tekton.TektonV1beta1().CustomRuns(ns).Get(context.Background(), "flaky", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := condition(run)
	if n := len(run.Status.RetriesStatus); n > 3 || c.Reason != "Retrying" || !strings.Contains(c.Message, "spec.retries 5000 is capped at 10") {
		t.Fatalf("after a few seconds: %s", statusOf(run))
	}
	if n := eventCount(t, ns, "flaky", "Retrying"); n > 3 {
		t.Errorf("%d Retrying events after %d retries", n, len(run.Status.RetriesStatus))
	}
	patch := []byte(`{"spec":{"status":"RunCancelled","statusMessage":"cancelled by the test"}}`)
	start := time.Now()
	if _, err := env.tekton.TektonV1beta1().CustomRuns(ns).Patch(context.Background(), "flaky", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	run = waitDone(t, ns, "flaky")
	if c := condition(run); c.Reason != "CustomRunCancelled" { // done within waitDone's 60 s
		t.Errorf("cancel: %s after %s", statusOf(run), time.Since(start))
	}
}
