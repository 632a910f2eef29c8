package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Prune deletes only what the guard owns by name, and a NetworkPolicy or
// RoleBinding it did not make is drift: an allow-all policy someone added
// (even one labelled as the guard's) fails apply and verify, and stays.
func TestNamespaceGuardOwnsByName(t *testing.T) {
	ctx := context.Background()
	pipelines := pipelineNamespace(t)
	ns := targetNamespace(t, "owned", handOver{from: pipelines, profile: guard.Dev, limits: personaLimits})
	params := personaParams + `          - {name: ingress, value: [monitoring]}`
	if run := guardRun(t, pipelines, "first", ns, params); !run.IsSuccessful() {
		t.Fatalf("first guard: %s", statusOf(run))
	}
	// Removing an ingress source prunes the guard's own policy for it.
	if run := guardRun(t, pipelines, "prune", ns, personaParams); !run.IsSuccessful() || result(run, "deleted") != "NetworkPolicy/modelguard-allow-from-monitoring" {
		t.Fatalf("prune: deleted %q, %s", result(run, "deleted"), statusOf(run))
	}

	allowAll := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "admin-allow-all", Labels: map[string]string{guard.GuardLabel: "true", guard.ManagedByLabel: guard.ManagedBy}},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{}}, Ingress: []networkingv1.NetworkPolicyIngressRule{{}}},
	}
	if _, err := env.kube.NetworkingV1().NetworkPolicies(ns).Create(ctx, allowAll, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	view := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "extra-view"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: localcluster.UserDave}}}
	if _, err := env.kube.RbacV1().RoleBindings(ns).Create(ctx, view, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	for _, mode := range []string{"apply", "verify"} {
		run := guardRun(t, pipelines, "foreign-"+mode, ns, personaParams+"          - {name: mode, value: "+mode+"}")
		c := condition(run)
		if !c.IsFalse() || c.Reason != "Drift" || !strings.Contains(c.Message, "NetworkPolicy/admin-allow-all") || !strings.Contains(c.Message, "RoleBinding/extra-view") {
			t.Errorf("%s with foreign objects: %s", mode, statusOf(run))
		}
		if got := result(run, "foreign"); got != "NetworkPolicy/admin-allow-all,RoleBinding/extra-view" || result(run, "deleted") != "" {
			t.Errorf("%s: foreign %q, deleted %q", mode, got, result(run, "deleted"))
		}
	}
	if _, err := env.kube.NetworkingV1().NetworkPolicies(ns).Get(ctx, "admin-allow-all", metav1.GetOptions{}); err != nil {
		t.Fatalf("the guard deleted a NetworkPolicy it does not own: %v", err)
	}

	// Objects a cluster admin expects are not drift.
	annotate(t, ns, map[string]string{guard.AllowForeignAnnotation: "NetworkPolicy/admin-allow-all,RoleBinding/extra-view"})
	if run := guardRun(t, pipelines, "expected", ns, personaParams+"          - {name: mode, value: verify}"); !run.IsSuccessful() || result(run, "foreign") != "" {
		t.Fatalf("verify with the foreign objects expected: %s", statusOf(run))
	}
}
