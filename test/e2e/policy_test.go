package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/tools"
	"sigs.k8s.io/yaml"
)

// policyCRDs are the published CRDs the rendered policies must satisfy,
// from each project's own module: policy-controller's ClusterImagePolicy,
// Kyverno's ClusterPolicy, OpenShift's ClusterImagePolicy and ImagePolicy.
func policyCRDs(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var files []string
	for _, m := range []struct{ module, version, path string }{
		{"github.com/sigstore/policy-controller", tools.PolicyControllerVersion, "config/300-clusterimagepolicy.yaml"},
		{"github.com/kyverno/kyverno", tools.KyvernoVersion, "config/crds/kyverno/kyverno.io_clusterpolicies.yaml"},
		{"github.com/openshift/api", tools.OpenShiftAPIVersion, "config/v1/zz_generated.crd-manifests/0000_10_config-operator_01_clusterimagepolicies.crd.yaml"},
		{"github.com/openshift/api", tools.OpenShiftAPIVersion, "config/v1/zz_generated.crd-manifests/0000_10_config-operator_01_imagepolicies.crd.yaml"},
	} {
		dir, err := tools.ModuleDir(ctx, m.module, m.version)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.Join(dir, m.path))
	}
	return files
}

// The rendered admission policies are valid objects of the projects'
// published CRDs: the real API server checks each against the CRD's
// schema with strict field validation (an unknown or misspelt field is
// refused, not dropped).
func TestPolicyRenderMatchesPublishedCRDs(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	dir := t.TempDir()
	for i, f := range policyCRDs(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd map[string]any
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatal(err)
		}
		// policy-controller's CRD converts through its webhook, which does
		// not run here (test/pods runs it for real); the schema is unchanged.
		if spec, ok := crd["spec"].(map[string]any); ok {
			delete(spec, "conversion")
		}
		out, _ := yaml.Marshal(crd)
		p := filepath.Join(dir, "crd-"+string(rune('a'+i))+".yaml")
		if err := os.WriteFile(p, out, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "apply", "--server-side", "-f", p); err != nil {
			t.Fatalf("install %s: %v\n%s", filepath.Base(f), err, out)
		}
		name, _ := crd["metadata"].(map[string]any)["name"].(string)
		t.Cleanup(func() {
			_, _ = env.cluster.Kubectl(context.Background(), localcluster.UserAdmin, "delete", "crd", name)
		})
		deadline := time.Now().Add(60 * time.Second)
		for {
			out, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "get", "crd", name, "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
			if err == nil && string(out) == "True" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CRD %s not established: %v\n%s", name, err, out)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	src := filepath.Join(tools.RepoRoot(), "pkg", "attest", "testdata", "trust")
	data, err := os.ReadFile(filepath.Join(src, "models.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Namespaced ImagePolicies need their namespaces.
	for _, ns := range []string{"fraud-prod", "fraud-staging"} {
		_, _ = env.cluster.Kubectl(ctx, localcluster.UserAdmin, "create", "namespace", ns)
	}
	for _, clusterWide := range []bool{false, true} {
		doc := data
		if clusterWide {
			doc = []byte(strings.Replace(string(data), "  namespaces: [fraud-prod, fraud-staging]\n", "", 1))
		}
		tr, err := attest.ParseTrustPolicy(doc, src, os.ReadFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range attest.RenderFormats {
			rendered, err := tr.Render(format)
			if err != nil {
				t.Fatal(err)
			}
			apply := func(y []byte) ([]byte, error) {
				p := filepath.Join(dir, format+".yaml")
				if err := os.WriteFile(p, y, 0o644); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(30 * time.Second)
				for {
					// Right after a CRD is Established its REST mapping may
					// not be discovered yet.
					out, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", p)
					if err == nil || !strings.Contains(string(out), "ensure CRDs are installed") || time.Now().After(deadline) {
						return out, err
					}
					time.Sleep(time.Second)
				}
			}
			if out, err := apply(rendered); err != nil {
				t.Errorf("%s (cluster-wide %v) does not fit its CRD: %v\n%s", format, clusterWide, err, out)
			}
			// The check can fail: a misspelt field is refused.
			broken := strings.Replace(strings.Replace(strings.Replace(string(rendered), "hashAlgorithm:", "hashAlgo:", 1), "signatureAlgorithm:", "signatureAlgo:", 1), "matchPolicy:", "matchPolice:", 1)
			if out, err := apply([]byte(broken)); err == nil {
				t.Errorf("%s with a misspelt field was accepted:\n%s", format, out)
			}
		}
	}
}
