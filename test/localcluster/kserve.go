package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/modelguard/modelguard/test/tools"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// KServeNamespace is where KServe's release installs its manager and
// reads its inferenceservice-config ConfigMap.
const KServeNamespace = "kserve"

// KServe is KServe's manager running against the cluster.
type KServe struct {
	c       *Cluster
	files   []string // what InstallKServe applied, for Uninstall
	Manager *Process
	// Webhook is the manager's webhook server, https://127.0.0.1:<port>,
	// registered with the API server.
	Webhook string
}

// InstallKServe installs KServe tools.KServeVersion in RawDeployment mode
// (no Knative, no Istio) from its module's release manifests and runs its
// manager as KServe's ServiceAccount:
//   - KServe's CRDs (config/crd/full), RBAC (config/rbac) and its
//     inferenceservice-config ConfigMap with three settings changed:
//     defaultDeploymentMode RawDeployment, ingress creation off (no
//     Gateway API or Istio here) and modelcars on (storageUri oci://);
//   - the manager out of cluster, its metrics, probe and webhook servers
//     on free loopback ports (its metrics default, :8080, is Tekton's);
//   - its webhooks (config/webhook), registered with the API server at
//     the manager's loopback URL with the CA of the serving certificate
//     made here: so the pod mutator injects the modelcar into every
//     InferenceService pod, as in a cluster.
func (c *Cluster) InstallKServe(ctx context.Context) (*KServe, error) {
	start := time.Now()
	t, err := tools.EnsureKServe(ctx, c.log)
	if err != nil {
		return nil, err
	}
	c.Tools.KServeManager = t.KServeManager
	modDir, err := tools.ModuleDir(ctx, "github.com/kserve/kserve", tools.KServeVersion)
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(modDir, "config")
	dir := filepath.Join(c.Dir, "kserve")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if out, err := c.Kubectl(ctx, UserAdmin, "create", "namespace", KServeNamespace); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
		return nil, fmt.Errorf("install kserve: %w\n%s", err, out)
	}
	var rbacFiles []string
	for _, f := range []string{"service_account.yaml", "role.yaml", "role_binding.yaml", "leader_election_role.yaml", "leader_election_role_binding.yaml"} {
		rbacFiles = append(rbacFiles, filepath.Join(cfg, "rbac", f))
	}
	rbac, err := kserveRBAC(rbacFiles)
	if err != nil {
		return nil, err
	}
	configMap, err := kserveConfig(filepath.Join(cfg, "configmap", "inferenceservice.yaml"))
	if err != nil {
		return nil, err
	}
	relFile := filepath.Join(dir, "release.yaml")
	if err := writeManifests(relFile, append(rbac, configMap.Object)); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"apply", "--server-side", "-k", filepath.Join(cfg, "crd", "full")},
		{"apply", "--server-side", "-f", relFile},
	} {
		if out, err := c.Kubectl(ctx, UserAdmin, args...); err != nil {
			return nil, fmt.Errorf("install kserve: %w\n%s", err, out)
		}
	}
	if out, err := c.Kubectl(ctx, UserAdmin, "wait", "--for", "condition=established", "--timeout=60s", "crd", "inferenceservices.serving.kserve.io", "servingruntimes.serving.kserve.io"); err != nil {
		return nil, fmt.Errorf("wait for kserve CRDs: %w\n%s", err, out)
	}

	// controller-runtime reads its serving pair from
	// $TMPDIR/k8s-webhook-server/serving-certs: a TMPDIR of the cluster's
	// own keeps it off the machine's /tmp.
	tmp := filepath.Join(dir, "tmp")
	ca, err := writeServingCert(filepath.Join(tmp, "k8s-webhook-server", "serving-certs"), []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	c.ports = append(c.ports, ports...)
	kc, err := c.ServiceAccountKubeconfig(ctx, KServeNamespace, "kserve-controller-manager")
	if err != nil {
		return nil, err
	}
	p, err := c.StartProcess("kserve-manager", []string{t.KServeManager,
		"-metrics-addr=127.0.0.1:" + strconv.Itoa(ports[0]),
		"-health-probe-addr=127.0.0.1:" + strconv.Itoa(ports[1]),
		"-webhook-port=" + strconv.Itoa(ports[2]),
		"-leader-elect=false",
		"-kubeconfig=" + kc,
	}, []string{"POD_NAMESPACE=" + KServeNamespace, "TMPDIR=" + tmp})
	if err != nil {
		return nil, err
	}
	ks := &KServe{c: c, Manager: p, Webhook: "https://127.0.0.1:" + strconv.Itoa(ports[2])}
	if err := waitHTTP(ctx, p, http.DefaultClient, "http://127.0.0.1:"+strconv.Itoa(ports[1])+"/readyz", "", readyTimeout); err != nil {
		return nil, fmt.Errorf("kserve manager: %w", err)
	}
	if err := ks.waitWebhook(ctx, ca); err != nil {
		return nil, err
	}
	hooks, err := kserveWebhooks(filepath.Join(cfg, "webhook", "manifests.yaml"), ks.Webhook, ca)
	if err != nil {
		return nil, err
	}
	hooksFile := filepath.Join(dir, "webhooks.yaml")
	if err := writeManifests(hooksFile, hooks); err != nil {
		return nil, err
	}
	if out, err := c.Kubectl(ctx, UserAdmin, "apply", "--server-side", "-f", hooksFile); err != nil {
		return nil, fmt.Errorf("install kserve webhooks: %w\n%s", err, out)
	}
	ks.files = []string{hooksFile, filepath.Join(cfg, "crd", "full")}
	fmt.Fprintf(c.log, "localcluster: kserve %s manager running, webhooks at %s (%.1fs)\n", tools.KServeVersion, ks.Webhook, time.Since(start).Seconds())
	return ks, nil
}

// waitWebhook waits until the webhook server answers TLS with the
// certificate made for it.
func (ks *KServe) waitWebhook(ctx context.Context, ca []byte) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	addr := ks.Webhook[len("https://"):]
	return waitFor(ctx, 30*time.Second, func() (bool, string, error) {
		if ks.Manager.Exited() {
			return false, "", fmt.Errorf("kserve manager exited:\n%s", logTail(ks.Manager.LogPath(), 30))
		}
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
		if err != nil {
			return false, err.Error(), nil
		}
		conn.Close()
		return true, "", nil
	})
}

// kserveRBAC reads KServe's RBAC manifests and puts them, and the
// ServiceAccount their bindings name, in KServeNamespace (what KServe's
// kustomization does).
func kserveRBAC(paths []string) ([]any, error) {
	objs, err := readManifests(paths...)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "Role", "RoleBinding":
			o.SetNamespace(KServeNamespace)
		}
		subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
		for _, s := range subjects {
			if m, ok := s.(map[string]any); ok && m["kind"] == "ServiceAccount" {
				m["namespace"] = KServeNamespace
			}
		}
		if subjects != nil {
			if err := unstructured.SetNestedSlice(o.Object, subjects, "subjects"); err != nil {
				return nil, err
			}
		}
		out = append(out, o.Object)
	}
	return out, nil
}

// kserveConfig reads KServe's inferenceservice-config and sets what a
// cluster without Knative, Istio and an ingress needs, and modelcars.
func kserveConfig(path string) (*unstructured.Unstructured, error) {
	objs, err := readManifests(path)
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 || objs[0].GetKind() != "ConfigMap" {
		return nil, fmt.Errorf("%s: want one ConfigMap", path)
	}
	cm := &objs[0]
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	set := map[string]map[string]any{
		"deploy":             {"defaultDeploymentMode": "RawDeployment"},
		"ingress":            {"disableIngressCreation": true},
		"storageInitializer": {"enableModelcar": true},
	}
	for key, values := range set {
		var v map[string]any
		if err := json.Unmarshal([]byte(data[key]), &v); err != nil {
			return nil, fmt.Errorf("inferenceservice-config %s: %w", key, err)
		}
		for k, x := range values {
			v[k] = x
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		data[key] = string(b)
	}
	delete(data, "_example")
	if err := unstructured.SetNestedStringMap(cm.Object, data, "data"); err != nil {
		return nil, err
	}
	return cm, nil
}

// kserveWebhooks reads KServe's webhook configurations and points each
// webhook at url (+ its path) with the CA, in place of the in-cluster
// Service.
func kserveWebhooks(path, url string, ca []byte) ([]any, error) {
	objs, err := readManifests(path)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, o := range objs {
		hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		for i, h := range hooks {
			hook, ok := h.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: webhook %d is not an object", o.GetName(), i)
			}
			p, _, _ := unstructured.NestedString(hook, "clientConfig", "service", "path")
			hook["clientConfig"] = map[string]any{"url": url + p, "caBundle": base64.StdEncoding.EncodeToString(ca)}
			hooks[i] = hook
		}
		if err := unstructured.SetNestedSlice(o.Object, hooks, "webhooks"); err != nil {
			return nil, err
		}
		unstructured.RemoveNestedField(o.Object, "metadata", "creationTimestamp")
		out = append(out, o.Object)
	}
	return out, nil
}

// Uninstall removes KServe again: the InferenceServices, its webhooks
// (they fail closed without the manager), the manager, then its CRDs, so the cluster no
// longer serves InferenceServices. For tests that want KServe for a while.
func (ks *KServe) Uninstall(ctx context.Context) error {
	c := ks.c
	// The InferenceServices first, while the manager runs to clear their
	// finalizers; otherwise deleting the CRD waits for them forever.
	if out, err := c.Kubectl(ctx, UserAdmin, "delete", "inferenceservices", "--all", "--all-namespaces", "--wait=true", "--timeout=2m"); err != nil {
		return fmt.Errorf("uninstall kserve: delete InferenceServices: %w\n%s", err, out)
	}
	if out, err := c.Kubectl(ctx, UserAdmin, "delete", "--ignore-not-found", "-f", ks.files[0]); err != nil {
		return fmt.Errorf("uninstall kserve webhooks: %w\n%s", err, out)
	}
	if err := ks.Manager.Kill(); err != nil {
		return err
	}
	if out, err := c.Kubectl(ctx, UserAdmin, "delete", "--ignore-not-found", "--wait=true", "-k", ks.files[1]); err != nil {
		return fmt.Errorf("uninstall kserve CRDs: %w\n%s", err, out)
	}
	return nil
}
