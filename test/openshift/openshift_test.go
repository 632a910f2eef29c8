// Package openshift checks what modelguard ships for OpenShift against
// what OpenShift runs it with, without OpenShift:
//   - config/overlays/openshift rendered with the kustomize Go API: no
//     fixed UID, the trusted and service CA bundles mounted into the
//     system roots, metrics over TLS with a service-ca certificate, a
//     ServiceMonitor that selects the metrics Service's TLS port; and the
//     rendering applied with server-side dry-run to a real apiserver with
//     the ServiceMonitor CRD from prometheus-operator's module installed;
//   - config/chains/tektonconfig.yaml decoded and validated with
//     tektoncd/operator's own Go types (OpenShift Pipelines' TektonConfig),
//     dry-run against the operator's CRD, and equal, key by key, to
//     config/chains/chains-config.yaml.
package openshift

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/tools"
	chainsconfig "github.com/tektoncd/chains/pkg/config"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The modules whose CRDs the overlay and the TektonConfig name.
const (
	promOperator        = "github.com/prometheus-operator/prometheus-operator"
	promOperatorVersion = "v0.88.0"
	serviceMonitorCRD   = "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
	tektonConfigCRD     = "config/base/300-operator_v1alpha1_config_crd.yaml"
)

func root(t *testing.T) string {
	t.Helper()
	r := tools.RepoRoot()
	if r == "" {
		t.Fatal("no modelguard checkout around the working dir")
	}
	return r
}

func render(t *testing.T) ([]byte, []*unstructured.Unstructured) {
	t.Helper()
	out, err := localcluster.RenderWith(filepath.Join(root(t), "config"), []string{filepath.Join(root(t), "config", "overlays", "openshift")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return out, objs
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string, into any) {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("the overlay renders no %s %s", kind, name)
}

// TestOverlay checks the rendered overlay's objects.
func TestOverlay(t *testing.T) {
	out, objs := render(t)
	for _, field := range []string{"runAsUser", "runAsGroup", "fsGroup"} {
		if bytes.Contains(out, []byte(field+":")) {
			t.Errorf("the overlay fixes %s; restricted-v2 assigns it", field)
		}
	}
	for _, u := range objs {
		if u.GetNamespace() != "" && u.GetNamespace() != localcluster.ControllerNamespace {
			t.Errorf("%s %s is in namespace %s", u.GetKind(), u.GetName(), u.GetNamespace())
		}
	}
	var ns corev1.Namespace
	find(t, objs, "Namespace", "modelguard", &ns)
	if ns.Labels["openshift.io/cluster-monitoring"] != "true" || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace labels %v", ns.Labels)
	}
	var dep appsv1.Deployment
	find(t, objs, "Deployment", "modelguard-controller", &dep)
	ctr := dep.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
	}
	mounts := map[string]string{}
	for _, m := range ctr.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if !strings.HasPrefix(env["SSL_CERT_DIR"], mounts["ca-bundles"]+":") || mounts["ca-bundles"] != "/etc/pki/ca-trust/extracted/pem" {
		t.Errorf("CA bundles: SSL_CERT_DIR %q, mounted at %q", env["SSL_CERT_DIR"], mounts["ca-bundles"])
	}
	if !strings.HasPrefix(env["METRICS_PROMETHEUS_TLS_CERT"], mounts["metrics-tls"]+"/") || !strings.HasPrefix(env["METRICS_PROMETHEUS_TLS_KEY"], mounts["metrics-tls"]+"/") {
		t.Errorf("metrics TLS: env %v, mounted at %q", env, mounts["metrics-tls"])
	}
	var svc corev1.Service
	find(t, objs, "Service", "modelguard-controller-metrics", &svc)
	secret := svc.Annotations["service.beta.openshift.io/serving-cert-secret-name"]
	tlsSecret := ""
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == "metrics-tls" && v.Secret != nil {
			tlsSecret = v.Secret.SecretName
		}
	}
	if secret == "" || secret != tlsSecret {
		t.Errorf("serving certificate %q, mounted Secret %q", secret, tlsSecret)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "https-metrics" {
		t.Errorf("metrics Service ports %+v, want one https-metrics", svc.Spec.Ports)
	}
	sm := map[string]any{}
	find(t, objs, "ServiceMonitor", "modelguard-controller", &sm)
	var spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port, Scheme string
			TLSConfig    struct{ ServerName string } `json:"tlsConfig"`
		} `json:"endpoints"`
	}
	b, _ := json.Marshal(sm["spec"])
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	for k, v := range spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s; the Service has %v", k, v, svc.Labels)
		}
	}
	if len(spec.Endpoints) != 1 || spec.Endpoints[0].Port != "https-metrics" || spec.Endpoints[0].Scheme != "https" ||
		spec.Endpoints[0].TLSConfig.ServerName != svc.Name+"."+svc.Namespace+".svc" {
		t.Errorf("ServiceMonitor endpoints %+v", spec.Endpoints)
	}
}

// TestOverlayDryRun applies the rendered overlay, and the TektonConfig,
// with server-side dry-run to a real apiserver, the CRDs they name
// installed from their upstream modules.
func TestOverlayDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an apiserver")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	prom, err := tools.ModuleDir(ctx, promOperator, promOperatorVersion)
	if err != nil {
		t.Fatal(err)
	}
	op, err := tools.ModuleDir(ctx, "github.com/tektoncd/operator", tools.OperatorVersion)
	if err != nil {
		t.Fatal(err)
	}
	c := localcluster.ForTest(t, localcluster.Config{NoTekton: true})
	kubectl := func(args ...string) {
		t.Helper()
		if out, err := c.Kubectl(ctx, localcluster.UserAdmin, args...); err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
	kubectl("apply", "--server-side", "-f", filepath.Join(prom, serviceMonitorCRD), "-f", filepath.Join(op, tektonConfigCRD))
	kubectl("wait", "--for", "condition=established", "--timeout=60s", "crd", "--all")
	out, _ := render(t)
	file := filepath.Join(t.TempDir(), "openshift.yaml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	// A dry-run creates nothing, so the namespace its objects go into
	// must exist.
	kubectl("create", "namespace", localcluster.ControllerNamespace)
	kubectl("apply", "--server-side", "--dry-run=server", "-f", file)
	kubectl("apply", "--server-side", "--dry-run=server", "-f", filepath.Join(root(t), "config", "chains", "tektonconfig.yaml"))
}

// TestTektonConfig decodes config/chains/tektonconfig.yaml with the
// operator's Go types and compares the chain properties it would write
// with config/chains/chains-config.yaml; a misspelt key must fail.
func TestTektonConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a checker against tektoncd/operator")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	check, err := tools.EnsureTektonConfigCheck(ctx, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	run := func(file string) (map[string]any, error) {
		cmd := exec.CommandContext(ctx, check, file)
		cmd.Env = append(os.Environ(), "PLATFORM=openshift")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%w: %s", err, stderr.String())
		}
		props := map[string]any{}
		return props, json.Unmarshal(out, &props)
	}
	tcFile := filepath.Join(root(t), "config", "chains", "tektonconfig.yaml")
	props, err := run(tcFile)
	if err != nil {
		t.Fatalf("%s with tektoncd/operator %s: %v", tcFile, tools.OperatorVersion, err)
	}
	data, err := os.ReadFile(filepath.Join(root(t), "config", "chains", "chains-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(data, &cm); err != nil {
		t.Fatal(err)
	}
	// What Chains would run with, from either: the same configuration,
	// but for the values the operator refuses.
	asChains := map[string]string{}
	for k, v := range props {
		if v != nil && fmt.Sprint(v) != "" || k == "artifacts.pipelinerun.storage" {
			asChains[k] = fmt.Sprint(v)
		}
	}
	delete(asChains, "performance")
	want := map[string]string{}
	for k, v := range cm.Data {
		if d, ok := operatorRefuses[k]; ok && d[0] == v {
			v = d[1]
		}
		want[k] = v
		if _, ok := asChains[k]; !ok {
			t.Errorf("chains-config sets %s; spec.chain does not", k)
		}
	}
	fromOperator, err := chainsconfig.NewConfigFromMap(asChains)
	if err != nil {
		t.Fatalf("Chains refuses what the operator would write: %v (%v)", err, asChains)
	}
	fromConfigMap, err := chainsconfig.NewConfigFromMap(want)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromConfigMap, fromOperator); diff != "" {
		t.Errorf("Chains' configuration from spec.chain differs from chains-config's (-chains-config +spec.chain):\n%s", diff)
	}
	// The checker fails on what the operator would not take.
	orig, err := os.ReadFile(tcFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]string{
		{"artifacts.taskrun.format: slsa/v2alpha3", "artifacts.taskrun.formatt: slsa/v2alpha3"},
		{"artifacts.taskrun.format: slsa/v2alpha3", "artifacts.taskrun.format: slsa/v2alpha4"},
		{"artifacts.oci.format: simplesigning", "artifacts.oci.format: dsse"},
	} {
		if !bytes.Contains(orig, []byte(bad[0])) {
			t.Fatalf("bad test: %q not in %s", bad[0], tcFile)
		}
		f := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(f, bytes.Replace(orig, []byte(bad[0]), []byte(bad[1]), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := run(f); err == nil {
			t.Errorf("the checker accepted %q", bad[1])
		}
	}
}

// operatorRefuses lists the chains-config values the operator's webhook
// refuses, with what tektonconfig.yaml says instead: v2alpha3 is the same
// SLSA v1.0 predicate (TestTektonConfig checks the operator still refuses
// v2alpha4, so this entry goes when it does not).
var operatorRefuses = map[string][2]string{"artifacts.taskrun.format": {"slsa/v2alpha4", "slsa/v2alpha3"}}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
