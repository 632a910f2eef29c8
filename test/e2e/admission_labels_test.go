package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// labelAttempt patches one namespace's labels or annotations (nil value:
// remove) as user, as a dry run, and says whether it was admitted.
type labelAttempt struct {
	what        string
	labels      map[string]any
	annotations map[string]any
	want        string // "" admitted, else what the refusal says
}

func (a labelAttempt) try(t *testing.T, k kubernetes.Interface, who, ns string) {
	t.Helper()
	meta := map[string]any{}
	if a.labels != nil {
		meta["labels"] = a.labels
	}
	if a.annotations != nil {
		meta["annotations"] = a.annotations
	}
	patch, _ := json.Marshal(map[string]any{"metadata": meta})
	_, err := k.CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType, patch, metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
	switch {
	case a.want == "" && err != nil:
		t.Errorf("%s: %s on %s refused: %v", who, a.what, ns, err)
	case a.want != "" && (err == nil || !strings.Contains(err.Error(), a.want)):
		t.Errorf("%s: %s on %s: err = %v; want a refusal saying %q", who, a.what, ns, err, a.want)
	}
}

// labelAttacks are what someone with patch on a namespace (the controller,
// the Task's ServiceAccount) could try, to hand a namespace elsewhere,
// loosen its limits, or pass for the router or monitoring. The namespace
// is a dev one handed to pipelines, with a UID other than "1111".
func labelAttacks(pipelines string) []labelAttempt {
	policy := guard.PolicyNamespaceLabels
	return []labelAttempt{
		{"hand it to another namespace", map[string]any{guard.OptInLabel: pipelines + "-x"}, nil, "label " + guard.OptInLabel},
		{"drop the opt-in", map[string]any{guard.OptInLabel: nil}, nil, "label " + guard.OptInLabel},
		{"declare it staging", map[string]any{guard.NamespaceProfileLabel: "staging"}, nil, "label " + guard.NamespaceProfileLabel},
		{"pass for the router", map[string]any{"policy-group.network.openshift.io/ingress": ""}, nil, policy},
		{"pass for monitoring", map[string]any{"network.openshift.io/policy-group": "monitoring"}, nil, policy},
		{"pass for Knative", map[string]any{"knative.openshift.io/system-namespace": "true"}, nil, policy},
		{"rebind the opt-in's UID", nil, map[string]any{guard.OptInUIDAnnotation: "1111"}, "annotation " + guard.OptInUIDAnnotation},
		{"open egress", nil, map[string]any{guard.AllowEgressAnnotation: "0.0.0.0/0"}, "annotation " + guard.AllowEgressAnnotation},
		{"allow themselves as operator", nil, map[string]any{guard.AllowSubjectsAnnotation(guard.Operator): "user:dave"}, "annotation " + guard.AllowSubjectsAnnotation(guard.Operator)},
		{"Pod Security privileged", map[string]any{"pod-security.kubernetes.io/enforce": "privileged"}, nil, "is below restricted"},
		{"drop Pod Security", map[string]any{"pod-security.kubernetes.io/enforce": nil}, nil, "is below restricted"},
		{"keep Pod Security restricted", map[string]any{"pod-security.kubernetes.io/enforce": "restricted"}, nil, ""},
		{"an unrelated label", map[string]any{"team": "fraud"}, nil, ""},
	}
}

// The controller may patch namespaces (for Pod Security); its identity
// still cannot move the opt-in, the profile, the limits or the labels
// other namespaces' NetworkPolicies trust, nor lower Pod Security, in a
// guarded namespace or any other. A cluster admin can.
func TestAdmissionNamespaceLabels(t *testing.T) {
	pipelines := pipelineNamespace(t)
	ns := guardedByAdmin(t, "labels", guard.Dev, nil)
	annotate(t, ns, map[string]string{guard.OptInUIDAnnotation: "0000"})
	labelNS(t, ns, map[string]string{guard.OptInLabel: pipelines})
	ctrl := kubeAs(t, localcluster.UserController)
	for _, a := range labelAttacks(pipelines) {
		a.try(t, ctrl, "controller", ns)
	}
	// Any namespace: nobody but an admin makes one look like the router.
	plain := namespace(t)
	labelAttempt{"pass for the router", map[string]any{"policy-group.network.openshift.io/ingress": ""}, nil, guard.PolicyNamespaceLabels}.try(t, ctrl, "controller", plain)

	admin := kubeAs(t, localcluster.UserAdmin)
	for _, a := range labelAttacks(pipelines) {
		a.want = ""
		a.try(t, admin, "admin", ns)
	}

	// Someone allowed to create namespaces cannot create one already
	// handed to a pipeline namespace.
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "namespace-creator-"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "modelguard-e2e-namespace-creator"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: localcluster.UserDave}}}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "modelguard-e2e-namespace-creator"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"create"}}}}
	ctx := context.Background()
	if _, err := env.kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.RbacV1().ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{})
	})
	got, err := env.kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), got.Name, metav1.DeleteOptions{})
	})
	dave := kubeAs(t, localcluster.UserDave)
	preOpted := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: plain + "-mine",
		Labels: map[string]string{guard.OptInLabel: pipelines, guard.NamespaceProfileLabel: "dev"}}}
	if _, err := dave.CoreV1().Namespaces().Create(ctx, preOpted, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err == nil || !strings.Contains(err.Error(), guard.PolicyNamespaceLabels) {
		t.Errorf("dave creates a namespace pre-opted-in: err = %v; want refused by %s", err, guard.PolicyNamespaceLabels)
	}
	preOpted.Labels = nil
	if _, err := dave.CoreV1().Namespaces().Create(ctx, preOpted, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("dave creates a plain namespace: %v", err)
	}
}

// labelNS sets labels on a namespace as a cluster admin.
func labelNS(t *testing.T, ns string, labels map[string]string) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	if _, err := env.kube.CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// RoleBindings written with the guard's rights but not by the guard (a
// bug, a Task's ServiceAccount running other steps) are held to the same
// limits at admission: only the namespace profile's persona roles, only
// to the subjects the admin allows.
func TestAdmissionPersonaBindings(t *testing.T) {
	ns := guardedByAdmin(t, "bindings", guard.Dev, nil)
	ctrl := kubeAs(t, localcluster.UserController)
	bind := func(name, role string, subject rbacv1.Subject) error {
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: []rbacv1.Subject{subject}}
		_, err := ctrl.RbacV1().RoleBindings(ns).Create(context.Background(), rb, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	user := func(n string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: n}
	}
	group := func(n string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: n}
	}
	for _, c := range []struct {
		what, role string
		subject    rbacv1.Subject
		want       string
	}{
		{"operator to dave", "modelguard-operator-dev", user(localcluster.UserDave), "User dave, who is not in annotation " + guard.AllowSubjectsAnnotation(guard.Operator)},
		{"operator to the ML engineers", "modelguard-operator-dev", group(localcluster.GroupMLEngineers), "Group " + localcluster.GroupMLEngineers},
		{"the prod operator role in dev", "modelguard-operator-prod", group(localcluster.GroupOperators), "only cluster admins bind anything but the persona roles"},
		{"operator to a ServiceAccount", "modelguard-operator-dev", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: ns}, "ServiceAccount default"},
		{"operator to the operators", "modelguard-operator-dev", group(localcluster.GroupOperators), ""},
	} {
		err := bind("modelguard-operator-extra", c.role, c.subject)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.what, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), guard.PolicyPersonaBindings)):
			t.Errorf("%s: err = %v; want refused by %s saying %q", c.what, err, guard.PolicyPersonaBindings, c.want)
		}
	}
}
