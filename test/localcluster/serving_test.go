package localcluster

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/test/tools"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestKServeManifests checks, without a cluster, that KServe's release
// still has the shape InstallKServe relies on, and what it changes: the
// three ConfigMap settings, and every webhook pointed at the manager's
// loopback URL with the CA, none left on the in-cluster Service.
func TestKServeManifests(t *testing.T) {
	dir, err := tools.ModuleDir(t.Context(), "github.com/kserve/kserve", tools.KServeVersion)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := kserveConfig(filepath.Join(dir, "config", "configmap", "inferenceservice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	for key, want := range map[string]string{"deploy": `"defaultDeploymentMode":"RawDeployment"`,
		"ingress": `"disableIngressCreation":true`, "storageInitializer": `"enableModelcar":true`} {
		var v map[string]any
		if err := json.Unmarshal([]byte(data[key]), &v); err != nil || !strings.Contains(data[key], want) {
			t.Errorf("inferenceservice-config %s = %s (%v), want %s", key, data[key], err, want)
		}
	}
	hooks, err := kserveWebhooks(filepath.Join(dir, "config", "webhook", "manifests.yaml"), "https://127.0.0.1:9443", []byte("CA"))
	if err != nil {
		t.Fatal(err)
	}
	podMutator := false
	for _, h := range hooks {
		o := unstructured.Unstructured{Object: h.(map[string]any)}
		list, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		for _, w := range list {
			cc := w.(map[string]any)["clientConfig"].(map[string]any)
			url, _ := cc["url"].(string)
			if !strings.HasPrefix(url, "https://127.0.0.1:9443/") || cc["caBundle"] != base64.StdEncoding.EncodeToString([]byte("CA")) || cc["service"] != nil {
				t.Errorf("%s: clientConfig %v", o.GetName(), cc)
			}
			podMutator = podMutator || url == "https://127.0.0.1:9443/mutate-pods"
		}
	}
	if !podMutator {
		t.Error("no pod mutator (/mutate-pods) among KServe's webhooks: nothing would inject the modelcar")
	}
}

// TestTriggersDeployments: the Deployments of Triggers' release that
// InstallTriggers takes its processes' args and env from.
func TestTriggersDeployments(t *testing.T) {
	dir, err := tools.ModuleDir(t.Context(), "github.com/tektoncd/triggers", tools.TriggersVersion)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := readManifests(filepath.Join(dir, "config", "controller.yaml"), filepath.Join(dir, "config", "interceptors", "core-interceptors-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, u := range objs {
		if u.GetKind() == "Deployment" {
			found[u.GetName()] = true
		}
	}
	if !found[triggersControllerName] || !found[InterceptorsService] {
		t.Fatalf("deployments %v, want %s and %s", found, triggersControllerName, InterceptorsService)
	}
	args := elImagePlaceholder([]string{"-el-image", "ko://github.com/tektoncd/triggers/cmd/eventlistenersink", "-el-port", "8080"})
	if strings.HasPrefix(args[1], "ko://") || args[3] != "8080" {
		t.Errorf("args %v", args)
	}
}
