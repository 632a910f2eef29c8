package deploymentcheck

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func plan(t *testing.T, k *Kind, js string) (source, error) {
	t.Helper()
	var ps []v1beta1.Param
	if err := json.Unmarshal([]byte(js), &ps); err != nil {
		t.Fatal(err)
	}
	vals, err := kinds.Check(k.Params(), ps)
	if err != nil {
		return source{}, err
	}
	if _, err := k.Plan(kinds.Request{Namespace: "ns", Params: vals}); err != nil {
		return source{}, err
	}
	return planSource(vals)
}

func TestPlanNeedsExactlyOneSource(t *testing.T) {
	k := &Kind{}
	for js, want := range map[string]string{
		`[{"name":"manifests","value":"kind: Service"}]`:                                               "",
		`[{"name":"manifests-configmap","value":"serving"}]`:                                           "",
		`[{"name":"manifests-configmap","value":"serving"},{"name":"manifests-key","value":"a.yaml"}]`: "",
		`[]`:                                  `param "manifests": is required (or manifests-configmap)`,
		`[{"name":"manifests","value":"  "}]`: `param "manifests": is empty`,
		`[{"name":"manifests","value":"kind: X"},{"name":"manifests-configmap","value":"c"}]`: "not both",
		`[{"name":"manifests-configmap","value":"Not_A_Name"}]`:                               `param "manifests-configmap": "Not_A_Name" is not a valid ConfigMap name`,
		`[{"name":"manifests","value":"kind: X"},{"name":"manifests-key","value":"a.yaml"}]`:  `param "manifests-key": is only used with manifests-configmap`,
		`[{"name":"manifests-configmap","value":"c"},{"name":"manifests-key","value":"a b"}]`: `param "manifests-key": "a b" is not a valid ConfigMap key`,
	} {
		_, err := plan(t, k, js)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", js, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v; want %q", js, err, want)
		}
	}
}

func TestManifestsFromConfigMap(t *testing.T) {
	cm := func(ns string, data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "serving", Namespace: ns}, Data: data}
	}
	kube := fake.NewSimpleClientset(
		cm("ns", map[string]string{"b-service.yaml": "kind: Service\n", "a-isvc.yml": "---\nkind: InferenceService\n---\n", "notes.txt": "not yaml"}),
		cm("other", map[string]string{"secret.yaml": "kind: Other"}),
	)
	k := &Kind{Kube: kube}
	ctx := context.Background()

	got, err := k.manifests(ctx, "ns", source{configMap: "serving"})
	want := []gate.Manifest{{Source: "ConfigMap serving key a-isvc.yml", YAML: "---\nkind: InferenceService\n---\n"},
		{Source: "ConfigMap serving key b-service.yaml", YAML: "kind: Service\n"}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("all keys: %q, %v; want %q (key order, .txt left out)", got, err, want)
	}
	if got, err := k.manifests(ctx, "ns", source{configMap: "serving", key: "b-service.yaml"}); err != nil || len(got) != 1 || got[0].YAML != "kind: Service\n" {
		t.Errorf("one key: %q, %v", got, err)
	}
	for name, tc := range map[string]struct {
		ns   string
		src  source
		want string
	}{
		"missing":     {"ns", source{configMap: "nope"}, "ConfigMap ns/nope not found"},
		"other ns":    {"elsewhere", source{configMap: "serving"}, "ConfigMap elsewhere/serving not found"},
		"no such key": {"ns", source{configMap: "serving", key: "c.yaml"}, `no key "c.yaml"`},
	} {
		if _, err := k.manifests(ctx, tc.ns, tc.src); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", name, err, tc.want)
		}
	}

	// Forbidden says which role to bind.
	kube.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "serving", errors.New("no"))
	})
	if _, err := k.manifests(ctx, "ns", source{configMap: "serving"}); err == nil || !strings.Contains(err.Error(), ReaderRole) {
		t.Errorf("forbidden: %v", err)
	}
	// Every read was in the run's namespace.
	for _, a := range kube.Actions() {
		if a.GetNamespace() != "ns" && a.GetNamespace() != "elsewhere" {
			t.Errorf("read in namespace %q", a.GetNamespace())
		}
	}
}
