package main

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/modelguard/modelguard/test/tools"
	appsv1 "k8s.io/api/apps/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root := tools.RepoRoot()
	if root == "" {
		t.Fatal("no modelguard checkout around the working dir")
	}
	return root
}

func TestCheckOptions(t *testing.T) {
	base := "127.0.0.1:5000/base@sha256:" + strings.Repeat("a", 64)
	good := Options{Version: "v0.1.0", Repo: "127.0.0.1:5000/mg", Base: base, Platforms: []string{"linux/amd64"}, Root: repoRoot(t)}
	for _, c := range []struct {
		name, want string
		edit       func(*Options)
	}{
		{"good", "", func(*Options) {}},
		{"version without v", "want vMAJOR.MINOR.PATCH", func(o *Options) { o.Version = "0.1.0" }},
		{"no registry", "KO_DOCKER_REPO", func(o *Options) { o.Repo = "" }},
		{"base by tag", "not pinned by digest", func(o *Options) { o.Base = "127.0.0.1:5000/base:latest" }},
		{"windows", "only linux", func(o *Options) { o.Platforms = []string{"windows/amd64"} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := good
			c.edit(&o)
			err := o.check()
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("check() = %v, want an error containing %q", err, c.want)
			}
		})
	}
	// The default base is .ko.yaml's, and .ko.yaml pins it by digest.
	o := good
	o.Base = ""
	if err := o.check(); err != nil || !strings.Contains(o.Base, "@sha256:") {
		t.Errorf(".ko.yaml's base: %q, %v", o.Base, err)
	}
}

func TestCheckUser(t *testing.T) {
	for user, ok := range map[string]bool{"65532": true, "65532:65532": true, "1000650000": true, "": false, "0": false, "0:0": false, "nonroot": false, "root": false} {
		if err := checkUser(user); (err == nil) != ok {
			t.Errorf("checkUser(%q) = %v, want ok=%v", user, err, ok)
		}
	}
}

func TestResolveKo(t *testing.T) {
	images := map[string]string{"ko://github.com/modelguard/modelguard/cmd/modelguard": "r/modelguard@sha256:ab"}
	got, err := resolveKo([]byte("default: ko://github.com/modelguard/modelguard/cmd/modelguard\n"), images)
	if err != nil || string(got) != "default: r/modelguard@sha256:ab\n" {
		t.Errorf("resolveKo = %q, %v", got, err)
	}
	if _, err := resolveKo([]byte("image: ko://github.com/other/cmd/x\n"), images); err == nil || !strings.Contains(err.Error(), "ko://github.com/other/cmd/x") {
		t.Errorf("an unknown ko:// reference: %v", err)
	}
	d := "@sha256:" + strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		"10.244.0.1:5000/mg/controller:v0.1.0" + d: "10.244.0.1:5000/mg/controller" + d,
		"10.244.0.1:5000/mg/controller" + d:        "10.244.0.1:5000/mg/controller" + d,
		"quay.io/mg/tasks/x:0.1" + d:               "quay.io/mg/tasks/x" + d,
	} {
		if got := untagged(in); got != want {
			t.Errorf("untagged(%s) = %s, want %s", in, got, want)
		}
	}
	for repo, want := range map[string]bool{"127.0.0.1:5000/x": true, "localhost:5000/x": true, "10.244.0.1:5000/x": true, "quay.io/x": false, "192.0.2.10:5000/x": false} {
		if got := insecureHost(repo); got != want {
			t.Errorf("insecureHost(%s) = %v, want %v", repo, got, want)
		}
	}
}

// TestRenderRelease renders config/ with the kustomize Go API: the version
// label reaches every object and the controller's pod template (so a new
// release rolls the Deployment), and the only ko:// reference is the
// controller image.
func TestRenderRelease(t *testing.T) {
	out, err := renderRelease(repoRoot(t), nil, "v9.8.7")
	if err != nil {
		t.Fatal(err)
	}
	if refs := koRef.FindAll(out, -1); len(refs) != 1 || string(refs[0]) != "ko://"+modulePath+"/cmd/controller" {
		t.Errorf("ko:// references in config/: %q", refs)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	found := false
	for {
		var d appsv1.Deployment
		if err := dec.Decode(&d); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if d.Labels["app.kubernetes.io/version"] != "v9.8.7" {
			t.Errorf("%s %s has no version label: %v", d.Kind, d.Name, d.Labels)
		}
		if d.Kind == "Deployment" {
			found = true
			if d.Spec.Template.Labels["app.kubernetes.io/version"] != "v9.8.7" {
				t.Errorf("pod template labels %v", d.Spec.Template.Labels)
			}
			if _, ok := d.Spec.Selector.MatchLabels["app.kubernetes.io/version"]; ok {
				t.Error("the version is in the selector, which a Deployment cannot change")
			}
		}
	}
	if !found {
		t.Error("no Deployment in config/")
	}
}

// serveRegistry runs go-containerregistry's registry on loopback for a test.
func serveRegistry(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestCheckBase: the base must be an index with every release platform,
// each image running as a numeric non-root user; a root base, a
// single-platform image and a missing platform are each refused.
func TestCheckBase(t *testing.T) {
	ctx := t.Context()
	host := serveRegistry(t)
	idx, err := tools.StaticBase()
	if err != nil {
		t.Fatal(err)
	}
	good, err := tools.PushIndex(ctx, host+"/base:good", idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBase(ctx, good, tools.ReleasePlatforms); err != nil {
		t.Errorf("the static base: %v", err)
	}
	if err := checkBase(ctx, good, []string{"linux/s390x"}); err == nil || !strings.Contains(err.Error(), "no linux/s390x image") {
		t.Errorf("a platform the base lacks: %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	single, err := tools.PushImage(ctx, host+"/base:single", img)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBase(ctx, single, tools.ReleasePlatforms[:1]); err == nil || !strings.Contains(err.Error(), "want an image index") {
		t.Errorf("a single image: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.User = ""
	rootImg, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	rootIdx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: rootImg, Descriptor: v1.Descriptor{Platform: m.Manifests[0].Platform}})
	root, err := tools.PushIndex(ctx, host+"/base:root", rootIdx)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBase(ctx, root, tools.ReleasePlatforms[:1]); err == nil || !strings.Contains(err.Error(), "numeric non-root user") {
		t.Errorf("a base running as root: %v", err)
	}
}
