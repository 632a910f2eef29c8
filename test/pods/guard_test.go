package pods

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// namespace-guard in a pod, as its ServiceAccount with exactly the RBAC of
// the Task's samples/rbac.yaml: apply, then a verify that finds drift.
func testNamespaceGuard(t *testing.T) {
	pipelinesNS := namespace(t, "model-pipelines")
	// As a cluster admin sets up a namespace the Task guards: its profile,
	// the persona subjects allowed, the Task's RoleBinding as expected.
	guarded := map[string]any{"metadata": map[string]any{
		"labels": map[string]string{guard.NamespaceProfileLabel: "prod"},
		"annotations": map[string]string{
			guard.AllowSubjectsAnnotation(guard.DataScientist): "group:" + localcluster.GroupDataScientists,
			guard.AllowSubjectsAnnotation(guard.Operator):      "group:" + localcluster.GroupOperators,
			guard.AllowForeignAnnotation:                       "RoleBinding/modelguard-namespace-guard-task",
		}}}
	patch, _ := json.Marshal(guarded)
	if _, err := env.kube.CoreV1().Namespaces().Patch(context.Background(), namespace(t, "model-serving"), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repoRoot(), "tasks", "namespace-guard", "0.1")
	if out, err := env.cluster.Kubectl(context.Background(), localcluster.UserAdmin, "apply", "-f", filepath.Join(dir, "samples", "rbac.yaml")); err != nil {
		t.Fatalf("apply samples/rbac.yaml: %v\n%s", err, out)
	}
	applyTask(t, pipelinesNS, "namespace-guard")
	params := map[string]string{
		"namespace":             "model-serving",
		"profile":               "prod",
		"data-scientist-groups": localcluster.GroupDataScientists,
		"operator-groups":       localcluster.GroupOperators,
		"ingress":               "openshift-router",
		"quota":                 "gpu=1",
	}
	tr := taskRun{name: "apply", params: params, serviceAccount: "namespace-guard"}.run(t, pipelinesNS, "namespace-guard")
	wantDone(t, tr, true)
	if !strings.Contains(result(tr, "created"), "NetworkPolicy/") || !strings.Contains(result(tr, "access-matrix"), "operator") {
		t.Errorf("apply results: %+v", tr.Status.Results)
	}

	// Verify against a different quota: the namespace drifted from what
	// is asked, so the step exits 2 and the TaskRun fails.
	verify := map[string]string{"mode": "verify", "quota": "gpu=2"}
	for k, v := range params {
		if _, ok := verify[k]; !ok {
			verify[k] = v
		}
	}
	tr = taskRun{name: "verify-drift", params: verify, serviceAccount: "namespace-guard"}.run(t, pipelinesNS, "namespace-guard")
	wantDone(t, tr, false, "ResourceQuota")
	if !strings.Contains(result(tr, "changed"), "ResourceQuota/") {
		t.Errorf("verify results: %+v", tr.Status.Results)
	}

	// A namespace the ServiceAccount has no RoleBinding in: forbidden,
	// exit 1, results still written.
	namespace(t, "model-elsewhere")
	other := map[string]string{"namespace": "model-elsewhere", "operator-groups": localcluster.GroupOperators}
	tr = taskRun{name: "forbidden", params: other, serviceAccount: "namespace-guard",
		workspaces: []pipelinev1.WorkspaceBinding{}}.run(t, pipelinesNS, "namespace-guard")
	wantDone(t, tr, false, "forbidden")
}
