package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	ns := targetNamespace(t, "many", "")
	cfg := env.cluster.RESTConfig(localcluster.UserAdmin)
	engine := &guard.Engine{Kube: env.kube, Dynamic: dynamic.NewForConfigOrDie(cfg), ListPage: 2, ListCap: 5}
	spec := &guard.Spec{Namespace: ns, Profile: "dev"}
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
