package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/cli"
	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/modelguard/modelguard/test/taskstep"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// doorCase is one question put to a gate through both doors: a CustomRun
// served by the controller, and the pod Task's step (the modelguard CLI
// with the Task's own args, run here in-process).
type doorCase struct {
	name, kind, task string
	params           map[string]string // the kind's params, and the Task's
	manifests        string            // DeploymentCheck: inline for the kind, a file for the Task
	token            string            // "" is the emulator's token
	gate, reason     string
	// sourceInSummary: the summary names where the input came from (the
	// param, a file), the one result allowed to differ between doors.
	sourceInSummary bool
	// hostile, when set, makes Central answer the next call (one per door)
	// as a broken or hostile Central would.
	hostile func()
}

const (
	unratedImage  = "quay.io/acme-ml/unrated-model@sha256:0af48788b91aca82a886072424f3457629eb2d57ac42c9570fadca82b5b5c4cd"
	mismatchImage = "quay.io/acme-ml/asked-for@sha256:1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff001"
	isvcAlone     = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: sentiment}
spec:
  predictor:
    model: {modelFormat: {name: onnx}, runtime: not-in-the-manifests, storageUri: "oci://` + cleanImage + `"}
`
)

// scanBody is Central's answer for image, to be replayed for another.
func scanBody(t *testing.T, central *acsemulator.Server, image string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, central.URL+"/v1/images/scan", strings.NewReader(`{"imageName":"`+image+`"}`))
	req.Header.Set("Authorization", "Bearer "+centralToken)
	resp, err := central.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scan %s: HTTP %d %v", image, resp.StatusCode, err)
	}
	return string(b)
}

// TestDoorsAgree runs the same emulator cases through both doors and
// wants the same gate outcome, reason and results from each: one engine
// function per gate (pkg/gate) makes that so, and this test keeps it so.
func TestDoorsAgree(t *testing.T) {
	needCluster(t)
	central := startCentral(t)
	const noScanData = "quay.io/acme-ml/private-model@sha256:7e693dfd8e8352a4b0f6eda394c44dea76c98dda33ecd130776c280fe1509ea3"
	const log4j = "quay.io/acme-ml/legacy-indexer@sha256:2c2865a162cf4358d20939a8134660e99f9b266587081be568ebed98c323a21b"
	scan := func(name, image, gate, reason string) doorCase {
		return doorCase{name: name, kind: "ImageScan", task: "acs-image-scan", params: map[string]string{"image": image}, gate: gate, reason: reason}
	}
	check := func(name, image, gate, reason string) doorCase {
		return doorCase{name: name, kind: "ImageCheck", task: "acs-image-check", params: map[string]string{"image": image}, gate: gate, reason: reason}
	}
	deploy := func(name, yaml, gate, reason string) doorCase {
		return doorCase{name: name, kind: "DeploymentCheck", task: "acs-deployment-check", manifests: yaml, gate: gate, reason: reason}
	}
	cases := []doorCase{
		scan("scan-clean", cleanImage, "pass", ""),
		scan("scan-critical", criticalImage, "fail", "VulnerabilitiesFound"),
		{name: "scan-important", kind: "ImageScan", task: "acs-image-scan", params: map[string]string{"image": criticalImage, "severity": "IMPORTANT", "fixable-only": "true"}, gate: "fail", reason: "VulnerabilitiesFound"},
		scan("scan-partial", partialImage, "fail", "IncompleteScan"),
		scan("scan-no-data", noScanData, "fail", "NoScanData"),
		{name: "scan-wrong-token", kind: "ImageScan", task: "acs-image-scan", params: map[string]string{"image": cleanImage}, token: "not-the-token", gate: "error", reason: "ACSCentralError"},
		check("check-clean", cleanImage, "pass", ""),
		check("check-log4j", log4j, "fail", "PolicyFailsBuild"),
		check("check-no-data", noScanData, "fail", "NoScanData"),
		scan("scan-unrated-cve", unratedImage, "fail", "VulnerabilitiesFound"),
		{name: "scan-another-digest", kind: "ImageScan", task: "acs-image-scan", params: map[string]string{"image": mismatchImage},
			gate: "fail", reason: "ScanDigestMismatch", hostile: func() {
				central.FailNext("/v1/images/scan", 1, 200, "application/json", scanBody(t, central, cleanImage))
			}},
		deploy("deploy-restricted", acsemulator.ServingDeployment(cleanImage, false), "pass", ""),
		deploy("deploy-serving-stack", acsemulator.ServingStack(cleanImage, cleanImage, false), "pass", ""),
		deploy("deploy-privileged-runtime", acsemulator.ServingStack(cleanImage, cleanImage, true), "fail", "PolicyBlocksDeployment"),
		deploy("deploy-isvc-alone", isvcAlone, "fail", "UncheckedObjects"),
		deploy("deploy-privileged", acsemulator.ServingDeployment(cleanImage, true), "fail", "PolicyBlocksDeployment"),
		{name: "deploy-not-an-object", kind: "DeploymentCheck", task: "acs-deployment-check", manifests: "just: a map\n", gate: "error", reason: "InvalidInput", sourceInSummary: true},
	}
	namespaces := map[string]string{}
	for _, tc := range cases {
		if namespaces[tc.token] == "" {
			token := tc.token
			if token == "" {
				token = centralToken
			}
			namespaces[tc.token] = acsNamespace(t, central, token, true)
		}
	}
	t.Run("bad-digest", func(t *testing.T) {
		// Refused before any work, by both: the kind as InvalidParams (no
		// results, as for every kind's bad params), the step as exit 1
		// with gate=error. Both name the param and the rule.
		tc := scan("bad-digest", "quay.io/acme-ml/m@sha256:0123", "", "")
		run, step := tc.customRun(t, namespaces[""]), tc.taskStep(t, central)
		if c := condition(run); c.Reason != "InvalidParams" || !strings.Contains(c.Message, `param "image"`) || !strings.Contains(c.Message, "64 lower-case hex") {
			t.Errorf("CustomRun: %s", statusOf(run))
		}
		if step.Code != cli.ExitError || step.Results["gate"] != "error" || step.Results["reason"] != "InvalidInput" || !strings.Contains(step.Log, "--image") || !strings.Contains(step.Log, "64 lower-case hex") {
			t.Errorf("Task: exit %d, results %v\n%s", step.Code, step.Results, step.Log)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.hostile != nil {
				tc.hostile()
			}
			run := tc.customRun(t, namespaces[tc.token])
			if tc.hostile != nil {
				tc.hostile()
			}
			step := tc.taskStep(t, central)
			c := condition(run)
			if got := result(run, "gate"); got != tc.gate || c.Reason != orSucceeded(tc.reason) {
				t.Errorf("CustomRun: gate %q, reason %q (%s); want %q, %q", got, c.Reason, c.Message, tc.gate, tc.reason)
			}
			if step.Results["gate"] != tc.gate || step.Results["reason"] != tc.reason || step.Code != exitFor(tc.gate) {
				t.Errorf("Task: exit %d, gate %q, reason %q; want %d, %q, %q\n%s", step.Code, step.Results["gate"], step.Results["reason"], exitFor(tc.gate), tc.gate, tc.reason, step.Log)
			}
			if len(run.Status.Results) != len(step.Results) {
				t.Errorf("CustomRun has %d results, the Task %d", len(run.Status.Results), len(step.Results))
			}
			for _, r := range run.Status.Results {
				want := step.Results[r.Name]
				if r.Name == "summary" && tc.sourceInSummary {
					continue
				}
				if r.Value != want {
					t.Errorf("result %s: CustomRun %q, Task %q", r.Name, r.Value, want)
				}
			}
		})
	}
}

func (tc doorCase) customRun(t *testing.T, ns string) *v1beta1.CustomRun {
	t.Helper()
	r := &v1beta1.CustomRun{ObjectMeta: metav1.ObjectMeta{Name: tc.name}}
	r.Spec.CustomRef = &v1beta1.TaskRef{APIVersion: "modelguard.dev/v1alpha1", Kind: v1beta1.TaskKind(tc.kind)}
	for k, v := range tc.params {
		r.Spec.Params = append(r.Spec.Params, v1beta1.Param{Name: k, Value: *v1beta1.NewStructuredValues(v)})
	}
	if tc.manifests != "" {
		r.Spec.Params = append(r.Spec.Params, v1beta1.Param{Name: "manifests", Value: *v1beta1.NewStructuredValues(tc.manifests)})
	}
	if _, err := env.tekton.TektonV1beta1().CustomRuns(ns).Create(context.Background(), r, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return waitDone(t, ns, tc.name)
}

func (tc doorCase) taskStep(t *testing.T, central *acsemulator.Server) taskstep.Step {
	t.Helper()
	token := tc.token
	if token == "" {
		token = centralToken
	}
	secret := t.TempDir()
	for name, v := range map[string][]byte{"endpoint": []byte(central.Endpoint), "token": []byte(token), "ca.crt": central.CAPEM} {
		if err := os.WriteFile(filepath.Join(secret, name), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	in := taskstep.Inputs{Params: map[string]string{"modelguard-image": "unused@sha256:" + strings.Repeat("0", 64)},
		Workspaces: map[string]string{"acs-secret": secret}}
	for k, v := range tc.params {
		in.Params[k] = v
	}
	if tc.manifests != "" {
		ws := t.TempDir()
		if err := os.WriteFile(filepath.Join(ws, "serving.yaml"), []byte(tc.manifests), 0o644); err != nil {
			t.Fatal(err)
		}
		in.Workspaces["manifests"] = ws
		in.Params["manifests-path"] = "serving.yaml"
	}
	return taskstep.Run(t, tc.task, in)
}

func orSucceeded(reason string) string {
	if reason == "" {
		return "Succeeded"
	}
	return reason
}

func exitFor(gate string) int {
	return map[string]int{"pass": cli.ExitOK, "fail": cli.ExitDenied, "error": cli.ExitError}[gate]
}
