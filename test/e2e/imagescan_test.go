package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// centralToken is what the emulator accepts; it is not a secret.
const centralToken = "e2e-token-not-a-secret"

// startCentral runs the ACS Central emulator (a test double: ACS cannot
// run here) with the example data, for one test.
func startCentral(t *testing.T) *acsemulator.Server {
	t.Helper()
	data, err := acsemulator.Load(filepath.Join(repoRoot(), "test", "acsemulator", "testdata", "central.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return acsemulator.Start(t, data, centralToken)
}

// wantOutcome checks a finished run's success, reason and message.
func wantOutcome(t *testing.T, name string, run *v1beta1.CustomRun, ok bool, reason, message string) {
	t.Helper()
	c := condition(run)
	if run.IsSuccessful() != ok || c.Reason != reason || !strings.Contains(c.Message, message) {
		t.Errorf("%s: %s; want %s containing %q", name, statusOf(run), reason, message)
	}
}

const (
	cleanImage    = "quay.io/acme-ml/sentiment-serving@sha256:7a76fabd5156c138e5a4921ba468b32c8fee33b4360b3fd6c3899117d95ebea5"
	criticalImage = "quay.io/acme-ml/llm-gateway@sha256:190de6ac415911deabe8ce0b3541661a3aa7e2ac74d6fee3d6749debf17e75c1"
	partialImage  = "quay.io/acme-ml/distroless-runner@sha256:4943ae9ae3d9a1a3fbdd91f55fdaf1ea24e4cd0e89f044d4ba504c99bbcb8a35"
)

// acsNamespace makes a namespace whose Secret points at the emulator and
// which lets the controller read that one Secret.
func acsNamespace(t *testing.T, central *acsemulator.Server, token string, bind bool) string {
	t.Helper()
	ns := namespace(t)
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "modelguard-acs"}, Data: map[string][]byte{
		"endpoint": []byte(central.Endpoint), "token": []byte(token), "ca.crt": central.CAPEM}}
	if _, err := env.kube.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if bind {
		bindController(t, ns, "modelguard-acs-secret-reader")
	}
	return ns
}

// bindController binds one of config/'s opt-in ClusterRoles to the
// controller in ns, as a namespace owner would.
func bindController(t *testing.T, ns, role string) {
	t.Helper()
	if _, err := env.kube.RbacV1().RoleBindings(ns).Create(context.Background(), localcluster.ControllerBinding(ns, role), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func scanRun(t *testing.T, ns, name, image, extra string) *v1beta1.CustomRun {
	t.Helper()
	createCustomRun(t, ns, fmt.Sprintf(`
metadata: {name: %s}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: ImageScan}
  params:
    - {name: image, value: "%s"}
%s`, name, image, extra))
	return waitDone(t, ns, name)
}

// ImageScan against the ACS Central emulator (a test double: ACS cannot
// run here), through the controller's real RBAC and a Secret in the run's
// own namespace.
func TestImageScanGates(t *testing.T) {
	needCluster(t)
	central := startCentral(t)
	ns := acsNamespace(t, central, centralToken, true)

	for _, tc := range []struct {
		name, image, extra string
		ok                 bool
		reason, message    string
	}{
		{"clean", cleanImage, "", true, "Succeeded", ""},
		{"critical", criticalImage, "", false, "VulnerabilitiesFound", "CVE-2025-32434"},
		{"allow-listed", criticalImage, `    - {name: allow, value: ["CVE-2025-32434,2099-12-31,pinned by the runtime", "CVE-2024-5535,2099-12-31,rebuild pending"]}`, true, "Succeeded", ""},
		{"allow-expired", criticalImage, `    - {name: allow, value: ["CVE-2025-32434,2020-01-31,old exception", "CVE-2024-5535,2099-12-31,rebuild pending"]}`, false, "VulnerabilitiesFound", "CVE-2025-32434"},
		{"partial", partialImage, "", false, "IncompleteScan", "PARTIAL_SCAN_DATA"},
		{"tag-only", "quay.io/acme-ml/sentiment-serving:1.4.0", "", false, "InvalidParams", `param "image"`},
	} {
		run := scanRun(t, ns, tc.name, tc.image, tc.extra)
		wantOutcome(t, tc.name, run, tc.ok, tc.reason, tc.message)
		c := condition(run)
		if strings.Contains(c.Message, centralToken) || strings.Contains(fmt.Sprint(run.Status.Results), centralToken) {
			t.Errorf("%s: the token leaked into status", tc.name)
		}
	}
	critical := waitDone(t, ns, "critical")
	if result(critical, "critical") != "2" || result(critical, "gate") != "fail" || !strings.Contains(result(critical, "top-cves"), "CVE-2025-32434") {
		t.Errorf("critical results: %v", critical.Status.Results)
	}

	// Central answering 503 twice, then 200: the scan retries and passes.
	central.FailNext("/v1/images/scan", 2, 503, "application/json", acsemulator.ErrorBody(14, "upstream connect error"))
	if run := scanRun(t, ns, "flaky-central", "quay.io/acme-ml/embedder@sha256:a92a991b1656f49db170cf60a2c9599fe97ed3d290299138bcc9abb236845021", `    - {name: severity, value: IMPORTANT}
    - {name: allow, value: ["CVE-2026-21001,2099-12-31,made-up CVE"]}`); !run.IsSuccessful() {
		t.Errorf("503 twice then 200: %s", statusOf(run))
	}

	// A wrong token fails fast with a clear message and no retries.
	wrong := acsNamespace(t, central, "not-the-token", true)
	start := time.Now()
	run := scanRun(t, wrong, "wrong-token", cleanImage, "")
	if c := condition(run); c.Reason != "ACSCentralError" || !strings.Contains(strings.ToLower(c.Message), "authenticat") {
		t.Errorf("wrong token after %s: %s", time.Since(start), statusOf(run))
	}

	// A namespace that did not bind the reader role: the controller may not
	// read its Secret, and says how to allow it.
	unbound := acsNamespace(t, central, centralToken, false)
	if c := condition(scanRun(t, unbound, "no-binding", cleanImage, "")); c.Reason != "ACSSecretUnavailable" || !strings.Contains(c.Message, "modelguard-acs-secret-reader") {
		t.Errorf("no RoleBinding: %s/%s %q", c.Status, c.Reason, c.Message)
	}
}

// Cancelling the PipelineRun mid-scan ends the CustomRun promptly and
// frees Central: the in-flight call is abandoned, not waited out.
func TestImageScanCancelMidScan(t *testing.T) {
	needCluster(t)
	central := startCentral(t)
	central.SetLatency(time.Minute)
	ns := acsNamespace(t, central, centralToken, true)
	createPipelineRun(t, ns, `
metadata: {name: slow}
spec:
  pipelineSpec:
    tasks:
      - name: scan
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: ImageScan}
        params: [{name: image, value: "`+cleanImage+`"}]`)
	run := customRunOf(t, ns, "slow", "scan")
	deadline := time.Now().Add(20 * time.Second)
	for central.InFlight() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if central.InFlight() == 0 {
		t.Fatal("the scan never reached Central")
	}
	waitChildListed(t, ns, "slow", run.Name) // see TestPipelineCancelEndsCustomRun
	patch := []byte(`{"spec":{"status":"Cancelled"}}`)
	start := time.Now()
	if _, err := env.tekton.TektonV1().PipelineRuns(ns).Patch(context.Background(), "slow", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	run = waitDone(t, ns, run.Name)
	if condition(run).Reason != "CustomRunCancelled" { // done within waitDone's 60 s
		t.Fatalf("after %s: %s", time.Since(start), statusOf(run))
	}
	t.Logf("CustomRun cancelled %s after the PipelineRun", time.Since(start).Round(time.Millisecond))
	for deadline := time.Now().Add(5 * time.Second); central.InFlight() > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := central.InFlight(); n != 0 {
		t.Fatalf("%d scans still in flight at Central after cancel", n)
	}
}

// ImageCheck scans first, then applies the FAIL_BUILD_ENFORCEMENT rule;
// an image without scan data is refused instead of passing silently.
func TestImageCheckGates(t *testing.T) {
	needCluster(t)
	central := startCentral(t)
	ns := acsNamespace(t, central, centralToken, true)
	for _, tc := range []struct {
		name, image     string
		ok              bool
		reason, message string
	}{
		{"clean", cleanImage, true, "Succeeded", ""},
		{"fail-build", criticalImage, false, "PolicyFailsBuild", "Fixable Severity at least Important"},
		{"no-scan-data", "quay.io/acme-ml/private-model@sha256:7e693dfd8e8352a4b0f6eda394c44dea76c98dda33ecd130776c280fe1509ea3", false, "NoScanData", "MISSING_SCAN_DATA"},
	} {
		createCustomRun(t, ns, fmt.Sprintf(`
metadata: {name: %s}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: ImageCheck}
  params: [{name: image, value: "%s"}]`, tc.name, tc.image))
		wantOutcome(t, tc.name, waitDone(t, ns, tc.name), tc.ok, tc.reason, tc.message)
	}
	if got := result(waitDone(t, ns, "fail-build"), "breaking-policies"); !strings.Contains(got, "Fixable Severity at least Important") {
		t.Errorf("breaking-policies = %q", got)
	}
}

// The three ACS gates in one pipeline, as a user wires them: scan, then
// build-time check, then the manifests. A clean image passes all three; an
// image with a critical fixable CVE stops the pipeline at the scan, with
// the CVE named, and the later gates never run.
func TestACSGatesPipeline(t *testing.T) {
	needCluster(t)
	central := startCentral(t)
	ns := acsNamespace(t, central, centralToken, true)
	gates := func(name, image string) {
		createPipelineRun(t, ns, `
metadata: {name: `+name+`}
spec:
  params:
    - {name: image, value: "`+image+`"}
  pipelineSpec:
    params: [{name: image, type: string}]
    tasks:
      - name: scan
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: ImageScan}
        params: [{name: image, value: $(params.image)}, {name: severity, value: IMPORTANT}]
      - name: check
        runAfter: [scan]
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: ImageCheck}
        params: [{name: image, value: $(params.image)}]
      - name: deploy-check
        runAfter: [check]
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: DeploymentCheck}
        params:
          - name: manifests
            value: |
              apiVersion: serving.kserve.io/v1alpha1
              kind: ServingRuntime
              metadata: {name: onnx-runtime}
              spec:
                supportedModelFormats: [{name: onnx, autoSelect: true}]
                containers:
                  - name: server
                    image: $(params.image)
                    securityContext: {runAsNonRoot: true, runAsUser: 1001}
                    resources: {limits: {cpu: "1", memory: 1Gi}}
              ---
              apiVersion: serving.kserve.io/v1beta1
              kind: InferenceService
              metadata: {name: sentiment}
              spec:
                predictor:
                  model: {modelFormat: {name: onnx}, storageUri: "oci://$(params.image)"}
    results:
      - {name: scan-gate, value: $(tasks.scan.results.gate)}
      - {name: check-gate, value: $(tasks.check.results.gate)}
      - {name: deploy-gate, value: $(tasks.deploy-check.results.gate)}`)
	}
	gates("clean", cleanImage)
	gates("critical", criticalImage)

	pr := waitPipelineRun(t, ns, "clean", 90*time.Second)
	if c := pr.Status.GetCondition("Succeeded"); !c.IsTrue() {
		t.Fatalf("PipelineRun: %s/%s %s", c.Status, c.Reason, c.Message)
	}
	for _, r := range pr.Status.Results {
		if r.Value.StringVal != "pass" {
			t.Errorf("%s = %q", r.Name, r.Value.StringVal)
		}
	}
	if len(pr.Status.Results) != 3 {
		t.Fatalf("pipeline results: %+v", pr.Status.Results)
	}

	pr = waitPipelineRun(t, ns, "critical", 90*time.Second)
	if c := pr.Status.GetCondition("Succeeded"); !c.IsFalse() {
		t.Fatalf("critical PipelineRun: %s/%s %s", c.Status, c.Reason, c.Message)
	}
	scan := waitDone(t, ns, customRunOf(t, ns, "critical", "scan").Name)
	wantOutcome(t, "critical scan", scan, false, "VulnerabilitiesFound", "CVE-2025-32434")
	if len(pr.Status.ChildReferences) != 1 {
		t.Errorf("the gates after a failed scan ran: %+v", pr.Status.ChildReferences)
	}
}
