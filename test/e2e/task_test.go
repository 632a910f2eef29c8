package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/cli"
	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/taskstep"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// taskServiceAccount is the identity samples/rbac.yaml prepares for the
// namespace-guard Task: the tests sign in as it with a static token, as a
// pod of the TaskRun would with its projected token.
var taskServiceAccount = localcluster.User{
	Name:   "system:serviceaccount:model-pipelines:namespace-guard",
	Groups: []string{"system:serviceaccounts", "system:serviceaccounts:model-pipelines", "system:authenticated"},
}

// The namespace-guard Task's step, run as its ServiceAccount with exactly
// the RBAC of samples/rbac.yaml: the args Tekton would pass (params
// substituted, defaults applied) go to the same CLI the image runs. No
// pod yet (that comes with the kubelet); everything else is real.
func TestNamespaceGuardTaskStep(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	// What a cluster admin sets on the namespaces the Task guards: the
	// profile, the persona subjects allowed, and the Task's own
	// RoleBinding as expected there.
	served := metav1.ObjectMeta{Labels: map[string]string{guard.NamespaceProfileLabel: "dev", guard.OptInLabel: "model-pipelines"},
		Annotations: with(map[string]string{guard.AllowForeignAnnotation: "RoleBinding/modelguard-namespace-guard-task"})}
	for _, ns := range []string{"model-pipelines", "model-serving", "model-elsewhere"} {
		meta := metav1.ObjectMeta{Name: ns}
		if ns != "model-pipelines" {
			meta.Labels, meta.Annotations = served.Labels, served.Annotations
		}
		if _, err := env.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: meta}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	}
	dir := filepath.Join(repoRoot(), "tasks", "namespace-guard", "0.1")
	if out, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "apply", "-f", filepath.Join(dir, "samples", "rbac.yaml")); err != nil {
		t.Fatalf("apply samples/rbac.yaml: %v\n%s", err, out)
	}
	task, err := taskstep.Load(filepath.Join(dir, "namespace-guard.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	results := t.TempDir()
	run := func(params map[string]string) (int, string) {
		args, err := taskstep.Args(task, 0, params, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range args {
			if a == "--results-dir=/tekton/results" {
				args[i] = "--results-dir=" + results
			}
		}
		args = append(args, "--kubeconfig="+env.cluster.Kubeconfig(taskServiceAccount.Name))
		code, out, errOut := modelguard(args...)
		return code, out + errOut
	}
	params := map[string]string{
		"namespace":             "model-serving",
		"data-scientist-groups": localcluster.GroupDataScientists,
		"operator-groups":       localcluster.GroupOperators,
		"ingress":               "openshift-router",
		"quota":                 "gpu=1",
	}
	if code, out := run(params); code != cli.ExitOK {
		t.Fatalf("apply as the Task's ServiceAccount: exit %d\n%s", code, out)
	}
	summary, _ := os.ReadFile(filepath.Join(results, "summary"))
	if !strings.Contains(string(summary), "access matrix 50/50 as intended") {
		t.Fatalf("summary result = %q", summary)
	}
	params["mode"] = "verify"
	if code, out := run(params); code != cli.ExitOK {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
	// Its users choose the Task's params, and may run other steps as its
	// ServiceAccount: its rights on the namespace still cannot move the
	// opt-in, the limits or the trusted labels, nor lower Pod Security, nor
	// bind a persona outside the admin's allow-lists.
	sa := kubeAs(t, taskServiceAccount.Name)
	for _, a := range labelAttacks("model-pipelines") {
		a.try(t, sa, "the Task's ServiceAccount", "model-serving")
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "modelguard-operator"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "modelguard-operator-dev"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: localcluster.UserDave}}}
	if _, err := sa.RbacV1().RoleBindings("model-serving").Create(ctx, rb, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err == nil || !strings.Contains(err.Error(), guard.PolicyPersonaBindings) {
		t.Errorf("the Task's ServiceAccount binds operator to dave: err = %v; want refused by %s", err, guard.PolicyPersonaBindings)
	}
	if canI(t, taskServiceAccount.Name, guard.GuardrailsAdminVerb, guard.GuardrailsAdminGroup, guard.GuardrailsAdminResource) {
		t.Error("the Task's ServiceAccount is a guardrails admin")
	}

	// The same ServiceAccount has no RoleBinding in another namespace.
	params["namespace"], params["mode"] = "model-elsewhere", "apply"
	if code, out := run(params); code != cli.ExitError || !strings.Contains(out, "forbidden") {
		t.Fatalf("apply on a namespace not handed over: exit %d\n%s", code, out)
	}
}
