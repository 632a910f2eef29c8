package guard

import (
	"context"
	"sync/atomic"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The authorizer may answer from a cache that has not seen a RoleBinding
// written a moment ago; settle asks again until the answers hold, and only
// about the checks that did not match.
func TestSettleWaitsForTheAuthorizerToCatchUp(t *testing.T) {
	kube := fake.NewClientset()
	var asked atomic.Int32
	kube.PrependReactor("create", "localsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.LocalSubjectAccessReview)
		sar.Status.Allowed = asked.Add(1) > 2 // the first two answers are stale
		return true, sar, nil
	})
	e := &Engine{Kube: kube}
	s := &Spec{Namespace: "ns", Subjects: map[Persona]Subjects{Operator: {Groups: []string{"ops"}}}}
	checks := []Check{
		{Persona: Operator, Access: q("create", appsGroup, "deployments", ""), Want: true, Got: false},
		{Persona: Operator, Access: q("delete", netGroup, "networkpolicies", ""), Want: false, Got: false},
	}
	if err := e.settle(context.Background(), s, checks); err != nil {
		t.Fatal(err)
	}
	if !checks[0].OK() || !checks[1].OK() {
		t.Fatalf("checks after settling: %+v", checks)
	}
	if n := asked.Load(); n != 3 {
		t.Fatalf("asked %d times; want 3 (only the mismatching check, until it holds)", n)
	}
}
