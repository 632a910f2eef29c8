package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// wantRefused checks that a guard run failed with reason, with a message
// containing each of want, before anything was written to target.
func wantRefused(t *testing.T, target string, run *v1beta1.CustomRun, reason string, want ...string) {
	t.Helper()
	c := condition(run)
	if !c.IsFalse() || c.Reason != reason {
		t.Errorf("%s: %s; want %s", run.Name, statusOf(run), reason)
	}
	for _, w := range want {
		if !strings.Contains(c.Message, w) {
			t.Errorf("%s: message %q does not say %q", run.Name, c.Message, w)
		}
	}
	if got := result(run, "summary"); !strings.HasPrefix(got, "nothing written: ") || len(run.Status.Results) != 7 {
		t.Errorf("%s: results %v; want all seven, the summary saying nothing was written", run.Name, run.Status.Results)
	}
	rbs, err := env.kube.RbacV1().RoleBindings(target).List(context.Background(), metav1.ListOptions{LabelSelector: guard.GuardLabel})
	if err != nil || len(rbs.Items) != 0 {
		t.Errorf("%s: RoleBindings in %s after a refused guard: %v (%v)", run.Name, target, rbs, err)
	}
	nps, err := env.kube.NetworkingV1().NetworkPolicies(target).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nps.Items) != 0 {
		t.Errorf("%s: NetworkPolicies in %s after a refused guard: %v (%v)", run.Name, target, nps, err)
	}
}

// The controller must not be a way into namespaces nobody handed over, nor
// a way to bind anything broader than the personas.
func TestNamespaceGuardRefusesEscalation(t *testing.T) {
	pipelines := pipelineNamespace(t)
	notOptedIn := targetNamespace(t, "victim", handOver{profile: guard.Dev, limits: personaLimits})
	otherTeams := targetNamespace(t, "other", handOver{from: "someone-else", noUID: true, profile: guard.Dev, limits: personaLimits})

	for name, target := range map[string]string{"no-opt-in": notOptedIn, "opted-in-elsewhere": otherTeams} {
		wantRefused(t, target, guardRun(t, pipelines, name, target, personaParams), "NotOptedIn", `param "namespace"`, guard.OptInLabel)
	}

	// Handing a persona to everyone is refused before anything is applied.
	opted := targetNamespace(t, "everyone", handOver{from: pipelines, profile: guard.Dev, limits: personaLimits})
	run := guardRun(t, pipelines, "everyone", opted, `          - {name: operator-users, value: ["system:anonymous"]}
          - {name: ml-engineer-groups, value: ["system:authenticated"]}`)
	if c := condition(run); !c.IsFalse() || c.Reason != "InvalidParams" || !strings.Contains(c.Message, "system: groups and users cannot be given a persona") {
		t.Errorf("system groups: %s", statusOf(run))
	}
	if c := condition(run); !strings.Contains(c.Message, `param "ml-engineer-groups"`) || !strings.Contains(c.Message, `param "operator-users"`) {
		t.Errorf("system groups: message does not name both params: %q", c.Message)
	}

	// Even a bug in the controller could not bind more: its own identity
	// may bind only the persona roles and may not escalate.
	ctrl := kubeAs(t, localcluster.UserController)
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "modelguard-operator"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: localcluster.UserDave}}}
	_, err := ctrl.RbacV1().RoleBindings(opted).Create(context.Background(), rb, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("controller identity binding cluster-admin: err = %v; want Forbidden", err)
	}
	for _, verb := range []string{"escalate", "impersonate"} {
		resource := "clusterroles"
		group := rbacv1.GroupName
		if verb == "impersonate" {
			resource, group = "users", ""
		}
		if can := canI(t, localcluster.UserController, verb, group, resource); can {
			t.Errorf("controller identity may %s %s", verb, resource)
		}
	}
	if can := canI(t, localcluster.UserController, "get", "", "secrets"); can {
		t.Error("controller identity may read Secrets")
	}
	// The one permission that exempts from the admission policies is not
	// the controller's.
	if can := canI(t, localcluster.UserController, guard.GuardrailsAdminVerb, guard.GuardrailsAdminGroup, guard.GuardrailsAdminResource); can {
		t.Error("controller identity is a guardrails admin")
	}
}

// The opt-in is the admin's act and names one namespace, not a name: a
// namespace cannot guard itself, a hand-over without the UID or without a
// declared profile does nothing, and a namespace created again under the
// handed-over name inherits nothing.
func TestNamespaceGuardOptInIsBoundToTheNamespace(t *testing.T) {
	ctx := context.Background()
	pipelines := pipelineNamespace(t)

	// Self-guarding: the pipeline namespace names itself.
	self, err := env.kube.CoreV1().Namespaces().Get(ctx, pipelines, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	self.Labels = map[string]string{guard.OptInLabel: pipelines, guard.NamespaceProfileLabel: "dev"}
	self.Annotations = with(map[string]string{guard.OptInUIDAnnotation: string(self.UID)})
	if _, err := env.kube.CoreV1().Namespaces().Update(ctx, self, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	run := guardRunAs(t, localcluster.UserBob, pipelines, "self", pipelines, personaParams+`          - {name: operator-users, value: [bob]}`)
	wantRefused(t, pipelines, run, "NotOptedIn", `param "namespace"`, "cannot guard itself")

	noUID := targetNamespace(t, "nouid", handOver{from: pipelines, noUID: true, profile: guard.Dev, limits: personaLimits})
	wantRefused(t, noUID, guardRun(t, pipelines, "no-uid", noUID, personaParams), "NotOptedIn", guard.OptInUIDAnnotation, "kubectl annotate")

	noProfile := targetNamespace(t, "noprofile", handOver{from: pipelines, limits: personaLimits})
	wantRefused(t, noProfile, guardRun(t, pipelines, "no-profile", noProfile, personaParams), "NotOptedIn", guard.NamespaceProfileLabel)

	// B is handed to namespace A; A is deleted and someone creates a new
	// namespace called A and starts a guard from it.
	a := pipelineNamespace(t)
	b := targetNamespace(t, "b", handOver{from: a, profile: guard.Dev, limits: personaLimits})
	recreate(t, a)
	wantRefused(t, b, guardRun(t, a, "reborn", b, personaParams), "NotOptedIn", "deleted and created again", guard.OptInUIDAnnotation)
}

// recreate deletes namespace ns and creates it again under the same name
// with the pipeline author's rights, as someone who may create namespaces
// could once the name is free. Without a namespace controller nothing
// would ever finish the deletion, so the test finalizes it itself.
func recreate(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	if err := env.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := env.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if err == nil {
			n.Spec.Finalizers = nil
			_, _ = env.kube.CoreV1().Namespaces().Finalize(ctx, n, metav1.UpdateOptions{})
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s not gone: %v", ns, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := env.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Without a namespace controller the old namespace's objects outlive
	// it, so the grant may already be there.
	grantPipelineRuns(t, ns, localcluster.GroupPipelineAuthors)
}

func canI(t *testing.T, user, verb, group, resource string) bool {
	t.Helper()
	u, _ := env.cluster.User(user)
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Name, Groups: u.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: "default"},
	}}
	got, err := env.kube.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Status.Allowed
}
