package pods

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/test/acsemulator"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The ACS Central emulator is a test double (ACS cannot run here); the
// images below are in its data file.
const (
	centralToken  = "pods-token-not-a-secret"
	cleanImage    = "quay.io/acme-ml/sentiment-serving@sha256:7a76fabd5156c138e5a4921ba468b32c8fee33b4360b3fd6c3899117d95ebea5"
	criticalImage = "quay.io/acme-ml/llm-gateway@sha256:190de6ac415911deabe8ce0b3541661a3aa7e2ac74d6fee3d6749debf17e75c1"
	log4jImage    = "quay.io/acme-ml/legacy-indexer@sha256:2c2865a162cf4358d20939a8134660e99f9b266587081be568ebed98c323a21b"
)

// startCentral serves the emulator where pods (the Tasks' steps and the
// in-cluster controller) reach it: on the node's bridge.
func startCentral(t *testing.T) *acsemulator.Server {
	t.Helper()
	data, err := acsemulator.Load(filepath.Join(repoRoot(), "test", "acsemulator", "testdata", "central.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := env.cluster.PodListener()
	if err != nil {
		t.Fatal(err)
	}
	return acsemulator.StartOn(t, data, centralToken, l)
}

// acsSecret creates the Secret a user binds as the acs-secret workspace.
func acsSecret(t *testing.T, ns string, central *acsemulator.Server, token string) string {
	return acsSecretNamed(t, ns, "acs-central", central, token)
}

func testACSImageScan(t *testing.T) {
	central := startCentral(t)
	ns := namespace(t, "task-acs-image-scan")
	applyTask(t, ns, "acs-image-scan")
	secret := acsSecret(t, ns, central, centralToken)
	ws := []pipelinev1.WorkspaceBinding{secretWorkspace("acs-secret", secret), emptyDirWorkspace("report")}

	tr := taskRun{name: "clean", params: map[string]string{"image": cleanImage}, workspaces: ws}.run(t, ns, "acs-image-scan")
	wantDone(t, tr, true, "gate: PASS")
	if result(tr, "gate") != "pass" || result(tr, "critical") != "0" {
		t.Errorf("clean results: %+v", tr.Status.Results)
	}

	// A critical fixable CVE fails the step (exit 2) and the TaskRun, with
	// the CVE in its results and log; an allow-listed one does not count.
	tr = taskRun{name: "critical", params: map[string]string{"image": criticalImage, "severity": "IMPORTANT"},
		arrays:     map[string][]string{"allow": {"CVE-2025-32434,2099-12-31,pinned until the runtime moves"}},
		workspaces: ws}.run(t, ns, "acs-image-scan")
	wantDone(t, tr, false, "CVE-2024-5535", "gate: FAIL")
	if result(tr, "gate") != "fail" || !strings.Contains(result(tr, "top-cves"), "CVE-2024-5535") || strings.Contains(result(tr, "top-cves"), "CVE-2025-32434") {
		t.Errorf("critical results: %+v", tr.Status.Results)
	}
	testACSImageScanWithTkn(t, ns, secret)
}

func testACSImageCheck(t *testing.T) {
	central := startCentral(t)
	ns := namespace(t, "task-acs-image-check")
	applyTask(t, ns, "acs-image-check")
	ws := []pipelinev1.WorkspaceBinding{secretWorkspace("acs-secret", acsSecret(t, ns, central, centralToken))}

	tr := taskRun{name: "clean", params: map[string]string{"image": cleanImage}, workspaces: ws}.run(t, ns, "acs-image-check")
	wantDone(t, tr, true, "gate: PASS")

	tr = taskRun{name: "log4j", params: map[string]string{"image": log4jImage}, workspaces: ws}.run(t, ns, "acs-image-check")
	wantDone(t, tr, false, "PolicyFailsBuild")
	if !strings.Contains(result(tr, "breaking-policies"), "log4j") || result(tr, "gate") != "fail" {
		t.Errorf("log4j results: %+v", tr.Status.Results)
	}

	// A wrong token: the step cannot run (exit 1), says so, and leaks nothing.
	bad := acsSecretNamed(t, ns, "acs-wrong", central, "not-the-token")
	tr = taskRun{name: "wrong-token", params: map[string]string{"image": cleanImage},
		workspaces: []pipelinev1.WorkspaceBinding{secretWorkspace("acs-secret", bad)}}.run(t, ns, "acs-image-check")
	log := wantDone(t, tr, false)
	if result(tr, "gate") != "error" || !strings.Contains(strings.ToLower(result(tr, "summary")), "authenticat") || strings.Contains(log, "not-the-token") {
		t.Errorf("wrong token: results %+v\n%s", tr.Status.Results, log)
	}
}

func acsSecretNamed(t *testing.T, ns, name string, central *acsemulator.Server, token string) string {
	t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{
		"endpoint": []byte(central.Endpoint), "token": []byte(token), "ca.crt": central.CAPEM}}
	if _, err := env.kube.CoreV1().Secrets(ns).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// The manifests come from a ConfigMap bound as the workspace, as the
// Task's README suggests; Kubernetes mounts its keys as symlinks.
func testACSDeploymentCheck(t *testing.T) {
	central := startCentral(t)
	ns := namespace(t, "task-acs-deployment-check")
	applyTask(t, ns, "acs-deployment-check")
	secret := secretWorkspace("acs-secret", acsSecret(t, ns, central, centralToken))
	for name, privileged := range map[string]bool{"restricted": false, "privileged": true} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{
			"deployment.yaml": servingDeployment(privileged), "service.yaml": servingService}}
		if _, err := env.kube.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tr := taskRun{name: "restricted", workspaces: []pipelinev1.WorkspaceBinding{configMapWorkspace("manifests", "restricted"), secret}}.run(t, ns, "acs-deployment-check")
	wantDone(t, tr, true, "gate: PASS")

	tr = taskRun{name: "privileged", workspaces: []pipelinev1.WorkspaceBinding{configMapWorkspace("manifests", "privileged"), secret}}.run(t, ns, "acs-deployment-check")
	wantDone(t, tr, false, "Privileged Container")
	if result(tr, "breaking-policies") != "Privileged Container" {
		t.Errorf("privileged results: %+v", tr.Status.Results)
	}
}

func servingDeployment(privileged bool) string {
	return acsemulator.ServingDeployment(cleanImage, privileged)
}

const servingService = `apiVersion: v1
kind: Service
metadata: {name: sentiment}
spec:
  selector: {app: sentiment}
  ports: [{port: 80, targetPort: 8080}]
`
