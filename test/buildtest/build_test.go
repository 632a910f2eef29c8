// Package buildtest builds and pushes modelcar images into a real OCI
// registry on loopback and pulls them back, through both doors: the
// pkg/modelcar engine and the modelguard CLI as a process.
package buildtest

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/pkg/modelcar"
	"github.com/modelguard/modelguard/test/ociregistry"
)

var created = time.Unix(1735689600, 0).UTC()

// pushBase puts a small base image into the registry and returns it pinned
// by digest, as a user must give it.
func pushBase(t *testing.T, reg *ociregistry.Registry) string {
	t.Helper()
	img := baseImage(t)
	ref, err := name.ParseReference(reg.Host + "/base/ubi-micro:9")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return reg.Host + "/base/ubi-micro@" + d.String()
}

// baseImage is a small random image to build on.
func baseImage(t *testing.T) v1.Image {
	t.Helper()
	layer, err := random.Layer(4096, "application/vnd.oci.image.layer.v1.tar")
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func writeModel(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var granite = map[string]string{
	"config.json":                      `{"architectures":["GraniteForCausalLM"]}`,
	"generation_config.json":           `{}`,
	"tokenizer.json":                   `{"version":"1.0"}`,
	"model-00001-of-00002.safetensors": strings.Repeat("\x01", 200_000),
	"model-00002-of-00002.safetensors": strings.Repeat("\x02", 300_000),
}

func options(reg *ociregistry.Registry, base, dir, target string) modelcar.Options {
	return modelcar.Options{ModelDir: dir, Base: base, Target: reg.Host + "/" + target, Runtime: modelcar.VLLM,
		LayerThreshold: 100_000, Created: created, Source: "https://git.example.com/granite", Revision: "0123abc", Licenses: "Apache-2.0"}
}

// Build, push, pull back: what is under /models is the model, byte for
// byte, with modes a=rX, on top of the base, under the digest reported.
func TestBuildPushPullBack(t *testing.T) {
	reg := ociregistry.Start(t)
	base := pushBase(t, reg)
	dir := t.TempDir()
	writeModel(t, dir, granite)
	o := options(reg, base, dir, "models/granite:1.0")
	o.BOMPath = filepath.Join(t.TempDir(), "mlbom.json")
	res, err := modelcar.Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageURL != reg.Host+"/models/granite:1.0" || !strings.HasPrefix(res.ImageDigest, "sha256:") ||
		res.StorageURI != "oci://"+reg.Host+"/models/granite@"+res.ImageDigest {
		t.Fatalf("result: %+v", res)
	}
	ref, _ := name.ParseReference(res.ImageURL)
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d.String() != res.ImageDigest {
		t.Fatalf("pulled %s, built %s", d, res.ImageDigest)
	}
	layers, _ := img.Layers()
	if len(layers) != 1+3 { // base + small files + two shards
		t.Fatalf("%d layers", len(layers))
	}
	got := readTree(t, img)
	for p, content := range granite {
		e, ok := got["models/"+p]
		if !ok || e.content != content || e.mode != 0o444 {
			t.Errorf("models/%s: present=%v mode=%o same content=%v", p, ok, e.mode, e.content == content)
		}
	}
	if e, ok := got["models"]; !ok || e.mode != 0o555 {
		t.Errorf("models dir: present=%v mode %o", ok, e.mode)
	}
	var bom struct {
		SpecVersion string `json:"specVersion"`
		Components  []struct {
			Type string `json:"type"`
		} `json:"components"`
	}
	b, err := os.ReadFile(o.BOMPath)
	if err != nil || json.Unmarshal(b, &bom) != nil || bom.SpecVersion != "1.6" {
		t.Fatalf("ML-BOM: %v %s", err, b)
	}
}

type treeEntry struct {
	mode    int64
	content string
}

// readTree flattens the image's filesystem the way a runtime would see it.
func readTree(t *testing.T, img v1.Image) map[string]treeEntry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]treeEntry{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = treeEntry{mode: h.Mode, content: string(b)}
	}
}

// Changing one shard re-uploads that shard's layer and the config, nothing
// else: the other layers keep their digests and the registry has them.
// Without a digest cache every layer is hashed first; with a warm cache
// only the changed shard is read, streamed in one pass.
func TestRebuildUploadsOnlyTheChangedShard(t *testing.T) {
	for label, cacheDir := range map[string]string{"no cache": "", "warm cache": t.TempDir()} {
		t.Run(label, func(t *testing.T) {
			reg := ociregistry.Start(t)
			base := pushBase(t, reg)
			dir := t.TempDir()
			writeModel(t, dir, granite)
			if cacheDir != "" {
				// The cache only trusts files that last changed well
				// before they were read (same-size edits in one
				// timestamp tick would go unseen otherwise).
				time.Sleep(2100 * time.Millisecond)
			}
			o := options(reg, base, dir, "models/granite:1")
			o.CacheDir = cacheDir
			first, err := modelcar.Build(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			writeModel(t, dir, map[string]string{"model-00002-of-00002.safetensors": strings.Repeat("\x03", 300_000)})
			reg.Reset()
			o.Target = reg.Host + "/models/granite:2"
			second, err := modelcar.Build(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if n := reg.BlobPuts(); n != 2 {
				t.Fatalf("%d blob uploads after changing one shard; want 2 (its layer and the config)", n)
			}
			if first.Layers[1].Digest != second.Layers[1].Digest || first.Layers[2].Digest == second.Layers[2].Digest {
				t.Fatalf("layers: %+v -> %+v", first.Layers, second.Layers)
			}
			if warm := cacheDir != ""; second.Layers[0].Cached != warm || second.Layers[1].Cached != warm || second.Layers[2].Cached {
				t.Fatalf("digests from the cache: %+v", second.Layers)
			}
			ref, _ := name.ParseReference(second.ImageURL)
			img, err := remote.Image(ref)
			if err != nil {
				t.Fatal(err)
			}
			if got := readTree(t, img)["models/model-00002-of-00002.safetensors"].content; got != strings.Repeat("\x03", 300_000) {
				t.Fatal("the rebuilt image does not hold the changed shard")
			}
		})
	}
}

// A registry that keeps failing mid-upload: retries, then a clear error,
// and the tag never points at a half-pushed image.
func TestRegistryFailingMidUploadLeavesNoTag(t *testing.T) {
	reg := ociregistry.Start(t)
	base := pushBase(t, reg)
	dir := t.TempDir()
	writeModel(t, dir, granite)
	reg.FailNextBlobUploads(1000)
	_, err := modelcar.Build(context.Background(), options(reg, base, dir, "models/granite:broken"))
	if err == nil || !strings.Contains(err.Error(), "push layer sha256:") || !strings.Contains(err.Error(), "blobs/uploads") {
		t.Fatalf("err = %v", err)
	}
	if n := reg.ManifestPuts("models/granite"); n != 0 {
		t.Fatalf("%d manifest pushes after failed uploads", n)
	}
	reg.FailNextBlobUploads(0)
	if tags, _ := reg.Tags("models/granite"); len(tags) != 0 {
		t.Fatalf("tags after a failed push: %v", tags)
	}
}

// Bad input is refused before anything reaches the registry.
func TestBadInputPushesNothing(t *testing.T) {
	reg := ociregistry.Start(t)
	base := pushBase(t, reg)
	good := t.TempDir()
	writeModel(t, good, granite)
	noConfig := t.TempDir()
	writeModel(t, noConfig, map[string]string{"model.safetensors": "w"})
	escaping := t.TempDir()
	writeModel(t, escaping, granite)
	if err := os.Symlink("/etc/hostname", filepath.Join(escaping, "extra.bin")); err != nil {
		t.Fatal(err)
	}
	reg.Reset()
	for name, tc := range map[string]struct {
		mutate func(*modelcar.Options)
		want   string
	}{
		"missing dir": {func(o *modelcar.Options) { o.ModelDir = filepath.Join(good, "nope") }, "model directory"},
		"empty model": {func(o *modelcar.Options) { o.ModelDir = t.TempDir() }, "holds no files"},
		"tag base":    {func(o *modelcar.Options) { o.Base = reg.Host + "/base/ubi-micro:9" }, "pin it by digest"},
		"layout":      {func(o *modelcar.Options) { o.ModelDir = noConfig }, "vllm: config.json is missing"},
		"disk full":   {func(o *modelcar.Options) { o.BOMPath = "/dev/full" }, "write ML-BOM: write /dev/full: no space left on device"},
		"bad target":  {func(o *modelcar.Options) { o.Target = "UPPER/Case::" }, "target"},
	} {
		o := options(reg, base, good, "models/granite:bad")
		tc.mutate(&o)
		if _, err := modelcar.Build(context.Background(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want %q", name, err, tc.want)
		}
	}
	// Only the disk-full case gets as far as uploading blobs (the ML-BOM
	// names the image digest, known once the layers are); no case may
	// push a manifest, so the tag never moves.
	if n := reg.ManifestPuts("models/granite"); n != 0 {
		t.Fatalf("bad input pushed %d manifests", n)
	}
	if tags, _ := reg.Tags("models/granite"); len(tags) != 0 {
		t.Fatalf("bad input left tags %v", tags)
	}
}
