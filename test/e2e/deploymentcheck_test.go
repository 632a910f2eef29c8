package e2e

import (
	"context"
	"testing"

	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeploymentCheck: the serving manifests are checked before they are
// applied; a privileged container (scale-to-zero enforcement) fails.
func TestDeploymentCheckGates(t *testing.T) {
	needCluster(t)
	central := startCentral(t)
	ns := acsNamespace(t, central, centralToken, true)
	deployment := func(privileged bool) string { return acsemulator.ServingDeployment(cleanImage, privileged) }
	// From a ConfigMap, once the namespace lets the controller read them.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "serving"},
		Data: map[string]string{"deployment.yaml": deployment(true), "README.md": "not checked"}}
	if _, err := env.kube.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run := func(name string, params ...v1beta1.Param) {
		r := &v1beta1.CustomRun{}
		r.Name = name
		r.Spec.CustomRef = &v1beta1.TaskRef{APIVersion: "modelguard.dev/v1alpha1", Kind: "DeploymentCheck"}
		r.Spec.Params = params
		if _, err := env.tekton.TektonV1beta1().CustomRuns(ns).Create(context.Background(), r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	param := func(name, value string) v1beta1.Param {
		return v1beta1.Param{Name: name, Value: *v1beta1.NewStructuredValues(value)}
	}
	run("restricted", param("manifests", deployment(false)))
	run("privileged", param("manifests", deployment(true)))
	run("configmap-unbound", param("manifests-configmap", "serving"))
	wantOutcome(t, "restricted", waitDone(t, ns, "restricted"), true, "Succeeded", "")
	wantOutcome(t, "privileged", waitDone(t, ns, "privileged"), false, "PolicyBlocksDeployment", "Privileged Container")
	wantOutcome(t, "configmap-unbound", waitDone(t, ns, "configmap-unbound"), false, "ManifestsUnavailable", "modelguard-configmap-reader")

	bindController(t, ns, "modelguard-configmap-reader")
	run("configmap", param("manifests-configmap", "serving"))
	wantOutcome(t, "configmap", waitDone(t, ns, "configmap"), false, "PolicyBlocksDeployment", "Privileged Container")
}
