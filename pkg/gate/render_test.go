package gate

import (
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/acs"
)

const servingRuntimeYAML = `apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata: {name: modelguard-serve}
spec:
  supportedModelFormats: [{name: custom, autoSelect: true}]
  containers:
    - name: server
      image: registry.example.com/modelguard@sha256:` + "1111111111111111111111111111111111111111111111111111111111111111" + `
      args: [serve, --dir=/mnt/models]
      securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false}
`

const isvcYAML = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: granite, namespace: fraud-prod}
spec:
  predictor:
    serviceAccountName: granite-sa
    model:
      modelFormat: {name: custom}
      runtime: modelguard-serve
      storageUri: oci://registry.example.com/models/granite@sha256:` + "2222222222222222222222222222222222222222222222222222222222222222" + `
      resources: {limits: {cpu: "2", memory: 4Gi}}
      env: [{name: MODEL_NAME, value: granite}]
`

func TestRenderInferenceService(t *testing.T) {
	set, err := parseManifests([]Manifest{{Source: "serving.yaml", YAML: servingRuntimeYAML + "---\n" + isvcYAML}})
	if err != nil {
		t.Fatal(err)
	}
	ren := renderInferenceServices(set, "default")
	if len(ren.unchecked) > 0 || len(ren.yaml) != 1 {
		t.Fatalf("rendering: %+v", ren)
	}
	got := ren.yaml[0]
	for _, want := range []string{
		"kind: Deployment", "name: granite-predictor", "namespace: fraud-prod",
		"serviceAccountName: granite-sa", "name: kserve-container", "registry.example.com/modelguard@sha256:1111",
		"--dir=/mnt/models", "MODEL_NAME", "memory: 4Gi", "name: modelcar",
		"image: registry.example.com/models/granite@sha256:2222", "shareProcessNamespace: true", "allowPrivilegeEscalation: false",
		"modelguard.dev/rendered-from: InferenceService/granite",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rendered Deployment lacks %q:\n%s", want, got)
		}
	}
	if !ren.covered["InferenceService/granite"] || !ren.covered["ServingRuntime/modelguard-serve"] {
		t.Errorf("covered = %v", ren.covered)
	}

	// A runtime found by model format, and a custom-container predictor.
	auto := strings.Replace(isvcYAML, "      runtime: modelguard-serve\n", "", 1)
	custom := `kind: InferenceService
metadata: {name: custom}
spec:
  predictor:
    containers: [{name: c, image: "registry.example.com/c@sha256:` + strings.Repeat("3", 64) + `"}]
`
	set, _ = parseManifests([]Manifest{{Source: "s", YAML: servingRuntimeYAML + "---\n" + auto + "---\n" + custom}})
	if ren := renderInferenceServices(set, "ns"); len(ren.yaml) != 2 || len(ren.unchecked) > 0 {
		t.Errorf("auto-selected runtime and custom predictor: %+v", ren)
	}

	// No runtime among the manifests: named, never passed.
	set, _ = parseManifests([]Manifest{{Source: "s", YAML: isvcYAML}})
	ren = renderInferenceServices(set, "ns")
	if len(ren.yaml) != 0 || len(ren.unchecked) != 1 || !strings.Contains(ren.unchecked[0], `InferenceService/granite (its ServingRuntime "modelguard-serve" is not among the manifests`) {
		t.Errorf("unrenderable: %+v", ren)
	}
}

func TestCoverage(t *testing.T) {
	pass := DetectReport{Verdict: Verdict{Outcome: Pass, Message: "no policy violated"}}
	ren := rendering{covered: map[string]bool{"InferenceService/granite": true, "ServingRuntime/rt": true}}
	for name, tc := range map[string]struct {
		resp acs.DeployDetectionResponse
		ren  rendering
		want string // "" passes
	}{
		"rendered ISVC": {acs.DeployDetectionResponse{Runs: []acs.DeployDetectionRun{{Name: "granite-predictor", Type: "Deployment"}},
			IgnoredObjectRefs: []string{"ns/granite[serving.kserve.io/v1beta1, Kind=InferenceService]", "ns/rt[serving.kserve.io/v1alpha1, Kind=ServingRuntime]"}}, ren, ""},
		"nothing evaluated": {acs.DeployDetectionResponse{}, ren, "Central evaluated no workload"},
		"an ignored CRD": {acs.DeployDetectionResponse{Runs: []acs.DeployDetectionRun{{Name: "d", Type: "Deployment"}},
			IgnoredObjectRefs: []string{"ns/x[example.com/v1, Kind=Widget]"}}, ren, "Widget/x (Central does not evaluate Widget objects)"},
		"an unrenderable ISVC": {acs.DeployDetectionResponse{IgnoredObjectRefs: []string{"ns/other[serving.kserve.io/v1beta1, Kind=InferenceService]"}},
			rendering{covered: map[string]bool{}, unchecked: []string{"InferenceService/other (its ServingRuntime ...)"}}, "1 object(s) went unchecked"},
		"a ref Central wrote oddly": {acs.DeployDetectionResponse{Runs: []acs.DeployDetectionRun{{Name: "d", Type: "Deployment"}},
			IgnoredObjectRefs: []string{"garbage"}}, ren, "garbage"},
	} {
		r := judgeCoverage(pass, &tc.resp, tc.ren)
		switch {
		case tc.want == "" && !r.Passed():
			t.Errorf("%s: %+v", name, r.Verdict)
		case tc.want != "" && (r.Passed() || r.Reason != ReasonUnchecked || !strings.Contains(r.Message, tc.want)):
			t.Errorf("%s: %+v; want %s containing %q", name, r.Verdict, ReasonUnchecked, tc.want)
		}
	}
	// A policy failure keeps its own reason.
	blocked := DetectReport{Verdict: Verdict{Outcome: Fail, Reason: ReasonDeployPolicy}}
	if r := judgeCoverage(blocked, &acs.DeployDetectionResponse{}, ren); r.Reason != ReasonDeployPolicy {
		t.Errorf("policy failure became %s", r.Reason)
	}
}
