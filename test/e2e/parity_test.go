package e2e

import (
	"context"
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
		deploy("deploy-restricted", acsemulator.ServingDeployment(cleanImage, false), "pass", ""),
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
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := tc.customRun(t, namespaces[tc.token])
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
