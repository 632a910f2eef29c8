package pods

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/pkg/modelserver"
	"github.com/modelguard/modelguard/test/localcluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestTknTaskStart starts every Task with the real tkn, the way its README
// shows it (`tkn task start <task> … --use-param-defaults --showlog`), and
// checks that it succeeds with its step's log streamed. (acs-image-scan's
// and model-fetch's tkn runs are in their own Task tests.) Every Task under
// tasks/ is started by tkn here or there, and a Task added without a tkn
// run fails this test.
func TestTknTaskStart(t *testing.T) {
	central := startCentral(t)
	ns := namespace(t, "tkn-tasks")
	ctx := context.Background()
	secret := acsSecret(t, ns, central, centralToken)
	// Started by tkn in their own Task tests.
	started := map[string]bool{"acs-image-scan": true, "model-fetch": true}
	run := func(t *testing.T, task, wantLog string, args ...string) {
		t.Helper()
		started[task] = true
		applyTask(t, ns, task)
		args = append([]string{"-p", "modelguard-image=" + env.modelguard}, args...)
		out, err := tknStart(t, ns, task, args...)
		if err != nil || !strings.Contains(out, wantLog) {
			t.Fatalf("tkn task start %s: %v; want %q in its log:\n%s", task, err, wantLog, out)
		}
	}

	t.Run("model-image-build", func(t *testing.T) {
		claim := modelVolume(t, ns, "tkn-models", map[string]string{"tiny": tinyModel()})
		run(t, "model-image-build", "sha256:",
			"-p", "image="+env.cluster.Registry+"/models/tiny-tkn:1", "-p", "base-image="+env.cluster.Images.Busybox,
			"-p", "model-path=tiny", "-p", "runtime=vllm", "-w", "name=model,claimName="+claim)
	})
	t.Run("acs-image-check", func(t *testing.T) {
		run(t, "acs-image-check", "gate: PASS", "-p", "image="+cleanImage,
			"-w", "name=acs-secret,secret="+secret, "-w", "name=report,emptyDir=")
	})
	t.Run("acs-deployment-check", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "serving-manifests"}, Data: map[string]string{
			"deployment.yaml": servingDeployment(false), "service.yaml": servingService}}
		if _, err := env.kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		run(t, "acs-deployment-check", "gate: PASS", "-p", "namespace=model-serving",
			"-w", "name=manifests,config=serving-manifests", "-w", "name=acs-secret,secret="+secret)
	})
	t.Run("namespace-guard", func(t *testing.T) {
		serving := namespace(t, "tkn-guarded")
		// As a cluster admin prepares it: prod, the persona subjects, the
		// quota it may raise to, the Task's RoleBinding as expected.
		guarded := map[string]any{"metadata": map[string]any{
			"labels": map[string]string{guard.NamespaceProfileLabel: "prod"},
			"annotations": map[string]string{
				guard.AllowSubjectsAnnotation(guard.DataScientist): "group:" + localcluster.GroupDataScientists,
				guard.AllowSubjectsAnnotation(guard.Operator):      "group:" + localcluster.GroupOperators,
				guard.MaxQuotaAnnotation:                           "gpu=2,cpu=16",
				guard.AllowForeignAnnotation:                       "RoleBinding/modelguard-namespace-guard-task",
			}}}
		patch, _ := json.Marshal(guarded)
		if _, err := env.kube.CoreV1().Namespaces().Patch(ctx, serving, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		sampleRBAC(t, "namespace-guard", map[string]string{"model-pipelines": ns, "model-serving": serving})
		run(t, "namespace-guard", "access matrix", "--serviceaccount", "namespace-guard",
			"-p", "namespace="+serving, "-p", "profile=prod",
			"-p", "data-scientist-groups="+localcluster.GroupDataScientists, "-p", "operator-groups="+localcluster.GroupOperators,
			"-p", "ingress=openshift-router,monitoring,knative", "-p", "quota=gpu=2,cpu=16")
	})
	t.Run("model-deploy", func(t *testing.T) {
		serving := servingNamespace(t, "tkn-serving")
		sampleRBAC(t, "model-deploy", map[string]string{"model-pipelines": ns, "model-serving": serving})
		image := buildTiny(t, "models/tiny-tkn-deploy")
		want, err := modelserver.Load("tiny", tinyModel())
		if err != nil {
			t.Fatal(err)
		}
		run(t, "model-deploy", want.Digest, "--serviceaccount", "model-deploy", "--skip-optional-workspace",
			"-p", "namespace="+serving, "-p", "name=tiny", "-p", "model-image="+image)
	})
	// Sign, attest the scan, then verify both, each Task started by tkn.
	t.Run("cosign-sign, cosign-attest, verify-image", func(t *testing.T) {
		key := keySecret(t, ns, "release-signing")
		pubConfigMap(t, ns, "release-pub", key.Public)
		image := buildTiny(t, "models/tiny-tkn-signed")
		scan, _ := json.Marshal(attest.VulnPredicate(attest.Scan{Finished: time.Now(), Result: attest.ScanResult{Verdict: "pass"}}))
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "scan-result"}, Data: map[string]string{"predicate.json": string(scan)}}
		if _, err := env.kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		run(t, "cosign-sign", "signed "+image, "--skip-optional-workspace", "-p", "image="+image, "-w", "name=signing-key,secret=release-signing")
		run(t, "cosign-attest", "attested "+attest.PredicateVuln, "--skip-optional-workspace", "-p", "image="+image, "-p", "predicate-type=vuln",
			"-w", "name=signing-key,secret=release-signing", "-w", "name=predicate,config=scan-result")
		run(t, "verify-image", image[strings.Index(image, "@")+1:]+": verified", "--skip-optional-workspace",
			"-p", "image="+image, "-p", "max-scan-age=1h", "-p", "wait=0s", "-w", "name=cosign-pub,config=release-pub")
	})
	t.Run("acs-runtime-watch", func(t *testing.T) {
		serving := namespace(t, "tkn-watched")
		handOver(t, serving, ns)
		sampleRBAC(t, "acs-runtime-watch", map[string]string{"model-pipelines": ns, "model-serving": serving})
		servingWorkload(t, central, serving, "quiet", true)
		run(t, "acs-runtime-watch", "runtime watch: PASS", "--serviceaccount", "acs-runtime-watch", "--skip-optional-workspace",
			"-p", "namespace="+serving, "-p", "deployment=quiet", "-p", "window=5s", "-p", "grace=2s", "-p", "poll=1s",
			"-p", "allow-processes=server:/usr/bin/modelguard", "-w", "name=acs-secret,secret="+secret)
	})

	dirs, err := os.ReadDir(filepath.Join(repoRoot(), "tasks"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() && !started[d.Name()] {
			t.Errorf("Task %s is never started with tkn", d.Name())
		}
	}
}
