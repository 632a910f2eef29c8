package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/modelguard/modelguard/test/tools"
)

const bundleTask = `apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: hello
spec:
  steps:
    - name: hi
      image: registry.example.com/hello@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
      command: [hello]
`

// goldenBundle is the digest of bundleTask's bundle; it changes only if
// the bundle's shape does, which TestBundleMatchesTkn checks against tkn.
const goldenBundle = "sha256:47a3d28da56da27b6d6ad197a1e15a5fef79d18d6bb9888c9fc7925a03ade70a"

// TestBundleImage: the layer annotations the bundles resolver reads, the
// epoch, one layer, and a digest that is the same on every run.
func TestBundleImage(t *testing.T) {
	img, err := bundleImage([]byte(bundleTask))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 || m.MediaType != types.DockerManifestSchema2 {
		t.Fatalf("manifest %+v", m)
	}
	want := map[string]string{"dev.tekton.image.apiVersion": "v1", "dev.tekton.image.kind": "task", "dev.tekton.image.name": "hello"}
	for k, v := range want {
		if m.Layers[0].Annotations[k] != v {
			t.Errorf("layer annotation %s = %q, want %q", k, m.Layers[0].Annotations[k], v)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("created %v, want the epoch", cf.Created)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != goldenBundle {
		t.Errorf("bundle digest %s, want %s", d, goldenBundle)
	}
	for _, bad := range []string{bundleTask + "---\n" + bundleTask, "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n", "apiVersion: tekton.dev/v1\nkind: Task\n"} {
		if _, err := bundleImage([]byte(bad)); err == nil {
			t.Errorf("bundleImage accepted:\n%s", bad)
		}
	}
}

// TestBundleMatchesTkn pushes every catalog file as a bundle with the real
// tkn (v0.46.0, `tkn bundle push`) and with bundleImage, and wants the same
// digest: a release's bundles are what tkn would have pushed.
func TestBundleMatchesTkn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tkn")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tk, err := tools.EnsureTkn(ctx, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	host := serveRegistry(t)
	root := repoRoot(t)
	files, err := catalogFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	pushed := regexp.MustCompile(`Pushed Tekton Bundle to \S+@(sha256:[0-9a-f]{64})`)
	for _, rel := range append(files, "") {
		data := []byte(bundleTask)
		if rel != "" {
			if data, err = os.ReadFile(filepath.Join(root, rel)); err != nil {
				t.Fatal(err)
			}
		}
		file := filepath.Join(t.TempDir(), "bundle.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, tk.Tkn, "bundle", "push", host+"/bundles/x:1", "-f", file)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		m := pushed.FindSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("tkn bundle push %s: %v\n%s", rel, err, out)
		}
		img, err := bundleImage(data)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		if d.String() != string(m[1]) {
			t.Errorf("%s: bundle %s, tkn pushed %s", strings.TrimSpace(rel+" (bundleTask if empty)"), d, m[1])
		}
	}
}
