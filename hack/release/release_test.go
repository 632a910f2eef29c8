package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
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
	for in, want := range map[string]string{
		"10.244.0.1:5000/mg/controller:v0.1.0@sha256:ab": "10.244.0.1:5000/mg/controller@sha256:ab",
		"10.244.0.1:5000/mg/controller@sha256:ab":        "10.244.0.1:5000/mg/controller@sha256:ab",
		"quay.io/mg/tasks/x:0.1@sha256:cd":               "quay.io/mg/tasks/x@sha256:cd",
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

// TestReleaseReproducible makes the same release twice, from scratch
// into two output dirs, and wants the same digests and manifests: the
// images (both platforms), release.yaml and every bundle.
func TestReleaseReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the images for two platforms with ko")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	host := serveRegistry(t)
	idx, err := tools.StaticBase()
	if err != nil {
		t.Fatal(err)
	}
	base, err := tools.PushIndex(ctx, host+"/base:static", idx)
	if err != nil {
		t.Fatal(err)
	}
	var results []*Result
	var manifests [][]byte
	for i := range 2 {
		o := Options{Version: "v0.0.1-test", Repo: host + "/modelguard", Base: base, Platforms: tools.ReleasePlatforms,
			Out: filepath.Join(t.TempDir(), "out"), Root: repoRoot(t), Log: testLog{t}}
		start := time.Now()
		r, err := Run(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("release %d in %s", i, time.Since(start).Round(time.Millisecond))
		results = append(results, r)
		data, err := os.ReadFile(filepath.Join(o.Out, "release.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		manifests = append(manifests, data)
		checkOutput(t, o.Out, r)
	}
	a, b := results[0], results[1]
	for k, v := range a.Images {
		if b.Images[k] != v {
			t.Errorf("image %s: %s, then %s", k, v, b.Images[k])
		}
	}
	for k, v := range a.Bundles {
		if b.Bundles[k] != v {
			t.Errorf("bundle %s: %s, then %s", k, v, b.Bundles[k])
		}
	}
	if !bytes.Equal(manifests[0], manifests[1]) {
		t.Error("release.yaml differs between two runs")
	}
}

// checkOutput: release.yaml names the controller by tag and digest,
// release.notags.yaml by digest only, and every released Task and
// Pipeline defaults its step image to the CLI by digest.
func checkOutput(t *testing.T, out string, r *Result) {
	t.Helper()
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("ko://")) {
			t.Errorf("%s still has a ko:// reference", rel)
		}
		return string(b)
	}
	if y := read("release.yaml"); !strings.Contains(y, "image: "+r.Images["controller"]) {
		t.Errorf("release.yaml lacks image %s", r.Images["controller"])
	}
	if y := read("release.notags.yaml"); !strings.Contains(y, "image: "+untagged(r.Images["controller"])) || strings.Contains(y, ":"+r.Version+"@") {
		t.Errorf("release.notags.yaml does not name the controller by digest only")
	}
	if len(r.Bundles) < 2 {
		t.Fatalf("bundles: %v", r.Bundles)
	}
	for dir := range r.Bundles {
		name := filepath.Base(filepath.Dir(dir))
		if y := read(filepath.Join(dir, name+".yaml")); !strings.Contains(y, untagged(r.Images["modelguard"])) {
			t.Errorf("%s does not default to the released CLI %s", dir, untagged(r.Images["modelguard"]))
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
