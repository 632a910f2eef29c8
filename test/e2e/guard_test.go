package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

var isvcGVR = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

// pipelineNamespace makes a namespace where dave, a pipeline author, and
// bob, an ML engineer, may run PipelineRuns and read them — and nothing
// else. Everything a run there says is theirs to choose.
func pipelineNamespace(t *testing.T) string {
	t.Helper()
	ns := namespace(t)
	grantPipelineRuns(t, ns, localcluster.GroupPipelineAuthors, localcluster.GroupMLEngineers)
	return ns
}

// grantPipelineRuns lets groups start and read PipelineRuns and CustomRuns
// in ns. An existing grant is kept.
func grantPipelineRuns(t *testing.T, ns string, groups ...string) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pipeline-author"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"tekton.dev"}, Resources: []string{"pipelineruns", "customruns"}, Verbs: []string{"get", "list", "watch", "create"}}},
	}
	if _, err := env.kube.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pipeline-authors"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pipeline-author"},
	}
	for _, g := range groups {
		rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	if _, err := env.kube.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// handOver is what a cluster admin writes on a namespace to have it
// guarded: the pipeline namespace whose runs may guard it (bound to its
// UID), the profile it serves, and limits.
type handOver struct {
	from    string // "": not handed to any pipeline namespace
	noUID   bool   // name the pipeline namespace by name only
	profile guard.Profile
	limits  map[string]string // annotations
}

// personaLimits let runs give the personas to the local cluster's groups.
var personaLimits = map[string]string{
	guard.AllowSubjectsAnnotation(guard.DataScientist): "group:" + localcluster.GroupDataScientists,
	guard.AllowSubjectsAnnotation(guard.MLEngineer):    "group:" + localcluster.GroupMLEngineers,
	guard.AllowSubjectsAnnotation(guard.Operator):      "group:" + localcluster.GroupOperators,
}

// with returns personaLimits plus more annotations.
func with(more map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]string{personaLimits, more} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// targetNamespace makes a namespace to guard, as a cluster admin sets it
// up (see handOver).
func targetNamespace(t *testing.T, suffix string, h handOver) string {
	t.Helper()
	ns := namespace(t) + "-" + suffix
	ctx := context.Background()
	labels, annotations := map[string]string{}, map[string]string{}
	for k, v := range h.limits {
		annotations[k] = v
	}
	if h.profile != "" {
		labels[guard.NamespaceProfileLabel] = string(h.profile)
	}
	if h.from != "" {
		labels[guard.OptInLabel] = h.from
		if !h.noUID {
			from, err := env.kube.CoreV1().Namespaces().Get(ctx, h.from, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			annotations[guard.OptInUIDAnnotation] = string(from.UID)
		}
	}
	_, err := env.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels, Annotations: annotations}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() { _ = env.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	return ns
}

// annotate sets (or with "" removes) annotations of a namespace, as a
// cluster admin.
func annotate(t *testing.T, ns string, ann map[string]string) {
	t.Helper()
	m := map[string]any{}
	for k, v := range ann {
		if v == "" {
			m[k] = nil
		} else {
			m[k] = v
		}
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": m}})
	if _, err := env.kube.CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// personaParams gives the three personas to the local cluster's groups.
var personaParams = fmt.Sprintf(`          - {name: data-scientist-groups, value: [%s]}
          - {name: ml-engineer-groups, value: [%s]}
          - {name: operator-groups, value: [%s]}
`, localcluster.GroupDataScientists, localcluster.GroupMLEngineers, localcluster.GroupOperators)

// guardRun has dave (through his own token) start a PipelineRun in `in`
// that runs NamespaceGuard on target with the given params (YAML list
// items), and returns its finished CustomRun.
func guardRun(t *testing.T, in, name, target string, params string) *v1beta1.CustomRun {
	t.Helper()
	return guardRunAs(t, localcluster.UserDave, in, name, target, params)
}

// guardRunAs is guardRun as another user.
func guardRunAs(t *testing.T, user, in, name, target string, params string) *v1beta1.CustomRun {
	t.Helper()
	y := fmt.Sprintf(`
metadata: {name: %s}
spec:
  pipelineSpec:
    tasks:
      - name: guard
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: NamespaceGuard}
        params:
          - {name: namespace, value: %s}
%s`, name, target, params)
	pr := parse[pipelinev1.PipelineRun](t, y)
	if _, err := tektonAs(t, user).TektonV1().PipelineRuns(in).Create(context.Background(), pr, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s creates PipelineRun %s: %v", user, name, err)
	}
	waitPipelineRun(t, in, name, 60*time.Second)
	return customRunOf(t, in, name, "guard")
}

func tektonAs(t *testing.T, user string) tekton.Interface {
	t.Helper()
	return tekton.NewForConfigOrDie(env.cluster.RESTConfig(user))
}

func kubeAs(t *testing.T, user string) kubernetes.Interface {
	t.Helper()
	return kubernetes.NewForConfigOrDie(env.cluster.RESTConfig(user))
}

// allowed turns an API answer into allowed/denied: only 403 is a denial.
// Anything else (success, 404 for a pod that does not exist, 409) means
// the authorizer let the request through.
func allowed(err error) bool { return !apierrors.IsForbidden(err) }

func TestNamespaceGuardPersonasAndRerun(t *testing.T) {
	pipelines := pipelineNamespace(t)
	dev := targetNamespace(t, "dev", handOver{from: pipelines, profile: guard.Dev, limits: with(map[string]string{guard.AllowEgressAnnotation: "10.0.0.0/8", guard.MaxQuotaAnnotation: "gpu=2"})})
	prod := targetNamespace(t, "prod", handOver{from: pipelines, profile: guard.Prod, limits: personaLimits})
	ctx := context.Background()
	// A Secret someone put there, which only the operator may read.
	if _, err := env.kube.CoreV1().Secrets(dev).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "model-store"}, StringData: map[string]string{"key": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	run := guardRun(t, pipelines, "guard-dev", dev, personaParams+`          - {name: ingress, value: [openshift-router, monitoring]}
          - {name: egress, value: ["10.0.0.0/8:443"]}
          - {name: quota, value: {gpu: "2"}}`)
	if !run.IsSuccessful() {
		t.Fatalf("guard-dev: %s", statusOf(run))
	}
	if got := result(run, "created"); !strings.Contains(got, "NetworkPolicy/modelguard-default-deny") || !strings.Contains(got, "RoleBinding/modelguard-operator") {
		t.Fatalf("created = %q", got)
	}
	// The legitimate path of every persona: 75 checks (25 per persona),
	// each answered by the real authorizer as intended.
	if got := result(run, "access-matrix"); strings.Contains(got, "MISMATCH") || !strings.Contains(got, "operator: 25/25") ||
		!strings.Contains(result(run, "summary"), "access matrix 75/75 as intended") {
		t.Fatalf("access-matrix = %q, summary %q", got, result(run, "summary"))
	}
	runProd := guardRun(t, pipelines, "guard-prod", prod, personaParams+`          - {name: profile, value: prod}`)
	if !runProd.IsSuccessful() {
		t.Fatalf("guard-prod: %s", statusOf(runProd))
	}

	// Real requests with each persona's own token.
	type attempt struct {
		who, what, ns string
		do            func(k kubernetes.Interface, d dynamic.Interface, ns string) error
		want          bool
	}
	isvc := func(k kubernetes.Interface, d dynamic.Interface, ns string) error {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
			"metadata": map[string]any{"generateName": "model-"}, "spec": map[string]any{"predictor": map[string]any{"model": map[string]any{"storageUri": "oci://registry/model@sha256:0"}}}}}
		_, err := d.Resource(isvcGVR).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
		return err
	}
	readSecret := func(k kubernetes.Interface, _ dynamic.Interface, ns string) error {
		_, err := k.CoreV1().Secrets(ns).Get(ctx, "model-store", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	deleteNetpol := func(k kubernetes.Interface, _ dynamic.Interface, ns string) error {
		return k.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "modelguard-default-deny", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
	}
	bindAdmin := func(k kubernetes.Interface, _ dynamic.Interface, ns string) error {
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "sneaky-"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dave"}}}
		_, err := k.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	exec := func(k kubernetes.Interface, _ dynamic.Interface, ns string) error {
		return k.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name("workbench-0").SubResource("exec").
			Param("command", "id").Param("stdout", "true").Do(ctx).Error()
	}
	attempts := []attempt{
		{localcluster.UserAlice, "create InferenceService", dev, isvc, true},
		{localcluster.UserAlice, "read a Secret", dev, readSecret, false},
		{localcluster.UserAlice, "delete a NetworkPolicy", dev, deleteNetpol, false},
		{localcluster.UserAlice, "create a RoleBinding", dev, bindAdmin, false},
		// exec reads what the pod can (its Secrets, its ServiceAccount
		// token): only for those who may read Secrets anyway.
		{localcluster.UserAlice, "exec (dev)", dev, exec, false},
		{localcluster.UserBob, "exec (dev)", dev, exec, false},
		{localcluster.UserAlice, "create InferenceService (prod)", prod, isvc, false},
		{localcluster.UserBob, "create InferenceService", dev, isvc, true},
		{localcluster.UserBob, "read a Secret", dev, readSecret, false},
		{localcluster.UserBob, "delete a NetworkPolicy", dev, deleteNetpol, false},
		{localcluster.UserBob, "create a RoleBinding", dev, bindAdmin, false},
		{localcluster.UserBob, "exec (prod)", prod, exec, false},
		{localcluster.UserCarol, "create InferenceService (prod)", prod, isvc, true},
		{localcluster.UserCarol, "read a Secret", dev, readSecret, true},
		{localcluster.UserCarol, "delete a NetworkPolicy", dev, deleteNetpol, false},
		{localcluster.UserCarol, "create a RoleBinding", dev, bindAdmin, false},
		{localcluster.UserCarol, "exec (dev)", dev, exec, true},
		{localcluster.UserCarol, "exec (prod)", prod, exec, false},
		{localcluster.UserDave, "create a RoleBinding", dev, bindAdmin, false},
		{localcluster.UserDave, "read a Secret", dev, readSecret, false},
	}
	for _, a := range attempts {
		k := kubeAs(t, a.who)
		d := dynamic.NewForConfigOrDie(env.cluster.RESTConfig(a.who))
		err := a.do(k, d, a.ns)
		if got := allowed(err); got != a.want {
			t.Errorf("%s: %s in %s: allowed=%v, want %v (err: %v)", a.who, a.what, a.ns, got, a.want, err)
		}
	}

	// Re-running changes nothing: no object is written.
	before := guardedVersions(t, dev)
	again := guardRun(t, pipelines, "guard-dev-again", dev, personaParams+`          - {name: ingress, value: [openshift-router, monitoring]}
          - {name: egress, value: ["10.0.0.0/8:443"]}
          - {name: quota, value: {gpu: "2"}}`)
	if !again.IsSuccessful() || result(again, "created") != "" || result(again, "changed") != "" || result(again, "deleted") != "" {
		t.Fatalf("re-run: %s", statusOf(again))
	}
	if after := guardedVersions(t, dev); fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("re-run wrote objects:\nbefore %v\nafter  %v", before, after)
	}

	// A hand edit (someone opens DNS to everything) is reported by verify.
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"egress": []any{map[string]any{}}}})
	if _, err := env.kube.NetworkingV1().NetworkPolicies(dev).Patch(ctx, "modelguard-allow-dns", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	verify := guardRun(t, pipelines, "guard-dev-verify", dev, personaParams+`          - {name: ingress, value: [openshift-router, monitoring]}
          - {name: egress, value: ["10.0.0.0/8:443"]}
          - {name: quota, value: {gpu: "2"}}
          - {name: mode, value: verify}`)
	if c := condition(verify); !c.IsFalse() || c.Reason != "Drift" || !strings.Contains(c.Message, "NetworkPolicy/modelguard-allow-dns") {
		t.Fatalf("verify after a hand edit: %s", statusOf(verify))
	}
	if changed := result(verify, "changed"); changed != "NetworkPolicy/modelguard-allow-dns" {
		t.Fatalf("verify changed = %q; want only the edited policy", changed)
	}
}

// guardedVersions maps every object the guard owns in ns to its
// resourceVersion, and includes the namespace itself.
func guardedVersions(t *testing.T, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	sel := metav1.ListOptions{LabelSelector: guard.GuardLabel + "=true"}
	nps, err := env.kube.NetworkingV1().NetworkPolicies(ns).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range nps.Items {
		out["np/"+o.Name] = o.ResourceVersion
	}
	rbs, err := env.kube.RbacV1().RoleBindings(ns).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rbs.Items {
		out["rb/"+o.Name] = o.ResourceVersion
	}
	lrs, err := env.kube.CoreV1().LimitRanges(ns).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range lrs.Items {
		out["lr/"+o.Name] = o.ResourceVersion
	}
	n, err := env.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out["ns"] = n.ResourceVersion
	if len(out) < 6 {
		t.Fatalf("only %d guarded objects in %s: %v", len(out), ns, out)
	}
	return out
}
