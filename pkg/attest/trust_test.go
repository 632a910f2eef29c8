package attest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/trust")

// The rendered policies are golden files: a change shows up in review.
// The schemas are checked for real in test/e2e, against the projects'
// published CRDs on a real API server; OpenShift's also against its Go
// types here.
func TestRenderGolden(t *testing.T) {
	dir := filepath.Join("testdata", "trust")
	data, err := os.ReadFile(filepath.Join(dir, "models.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ParseTrustPolicy(data, dir, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range RenderFormats {
		got, err := tr.Render(f)
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join(dir, f+".golden.yaml")
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./pkg/attest -run TestRenderGolden -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s:\n%s", f, golden, got)
		}
	}
	objs, err := tr.OpenShift()
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("%d OpenShift objects; want an ImagePolicy per namespace", len(objs))
	}
	for _, o := range objs {
		b, _ := yaml.Marshal(o)
		var ip configv1.ImagePolicy
		if err := yaml.UnmarshalStrict(b, &ip); err != nil {
			t.Errorf("not an OpenShift ImagePolicy: %v\n%s", err, b)
		}
		if ip.Spec.Policy.RootOfTrust.PublicKey == nil || !bytes.Equal(ip.Spec.Policy.RootOfTrust.PublicKey.KeyData, tr.signer) {
			t.Errorf("ImagePolicy %s/%s does not carry the signer's key", ip.Namespace, ip.Name)
		}
	}
	all, err := tr.Render("all")
	if n := bytes.Count(all, []byte("\n---\n")); err != nil || n != 3+1+2 {
		t.Errorf("all: %d documents, %v", n, err)
	}
	if _, err := tr.Render("helm"); err == nil || !strings.Contains(err.Error(), "kyverno") {
		t.Errorf("unknown format: %v", err)
	}
}

func TestParseTrustPolicyNamesEachProblem(t *testing.T) {
	bad := `apiVersion: modelguard.dev/v1alpha1
kind: TrustPolicy
metadata: {name: "Not_A_Name"}
spec:
  repositories: ["registry.example.com/models/*", "latest", "registry.local:5000/models:1.0", "registry.local:5000/models", "registry.local:5000/m@sha256:0"]
  namespaces: ["Bad NS"]
  signer: {publicKey: "not a key"}
  attestor: {}
  require: {scan: {maxAge: forever}}
`
	_, err := ParseTrustPolicy([]byte(bad), ".", os.ReadFile)
	if err == nil {
		t.Fatal("accepted")
	}
	if strings.Contains(err.Error(), "spec.repositories[3]") {
		t.Errorf("a registry with a port is a repository prefix:\n%v", err)
	}
	for _, want := range []string{"metadata.name", "spec.repositories[0]", "spec.repositories[1]", "spec.repositories[2]", "spec.repositories[4]", "spec.namespaces[0]", "spec.signer", "spec.attestor: give publicKey or publicKeyFile", "spec.require.scan.maxAge"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := ParseTrustPolicy([]byte("spec: {unknown: 1}"), ".", os.ReadFile); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("unknown field: %v", err)
	}
}
