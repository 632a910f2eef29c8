package deploy

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestInferenceServiceServesTheModelcarByDigest(t *testing.T) {
	s := Spec{Namespace: "serving", Name: "tiny", ModelImage: model, Target: TargetKServe, Runtime: "modelguard-serve", Replicas: 2}
	if err := s.WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	isvc := InferenceService(s)
	get := func(path ...string) any {
		v, ok, err := unstructured.NestedFieldNoCopy(isvc.Object, path...)
		if !ok || err != nil {
			t.Fatalf("%v missing: %v", path, err)
		}
		return v
	}
	for path, want := range map[string]any{
		"spec.predictor.model.storageUri":                               "oci://" + model,
		"spec.predictor.model.runtime":                                  "modelguard-serve",
		"spec.predictor.model.modelFormat.name":                         modelFormat,
		"spec.predictor.minReplicas":                                    int64(2),
		"spec.predictor.maxReplicas":                                    int64(2),
		"spec.predictor.automountServiceAccountToken":                   false,
		"spec.predictor.securityContext.runAsNonRoot":                   true,
		"spec.predictor.model.securityContext.allowPrivilegeEscalation": false,
		"metadata.annotations.serving\x00kserve\x00io/deploymentMode":   "RawDeployment",
	} {
		parts := strings.Split(path, ".")
		for i := range parts {
			parts[i] = strings.ReplaceAll(parts[i], "\x00", ".")
		}
		if got := get(parts...); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	// It survives a round trip through YAML (what --render prints).
	if _, err := yaml.Marshal(isvc.Object); err != nil {
		t.Fatal(err)
	}
}

func TestValidateTargets(t *testing.T) {
	kserve := Spec{Namespace: "serving", Name: "tiny", ModelImage: model, Target: TargetKServe}.WithDefaults()
	if err := kserve.Validate(); err == nil || !strings.HasPrefix(err.Error(), "runtime") {
		t.Errorf("kserve without a runtime: %v", err)
	}
	kserve.Runtime = "modelguard-serve"
	if err := kserve.Validate(); err != nil {
		t.Errorf("kserve needs no server image: %v", err)
	}
	bad := kserve
	bad.Target = "knative"
	if err := bad.Validate(); err == nil || !strings.HasPrefix(err.Error(), "target") {
		t.Errorf("unknown target: %v", err)
	}
	if _, err := Render(Spec{Namespace: "serving", Name: "tiny", ModelImage: model, ServerImage: server}); err == nil {
		t.Error("Render with an unresolved target")
	}
}
