package modelcar

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
)

var epoch = time.Unix(1700000000, 0).UTC()

// model writes files (path → content) under a fresh temp dir.
func model(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var hfModel = map[string]string{
	"config.json":                      `{"model_type":"llama"}`,
	"tokenizer.json":                   `{}`,
	"model-00001-of-00002.safetensors": strings.Repeat("a", 3000),
	"model-00002-of-00002.safetensors": strings.Repeat("b", 5000),
}

// open opens a model directory for the test's duration.
func open(t *testing.T, dir string) *Model {
	t.Helper()
	m, err := OpenModel(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// plan lays out a model's layers.
func plan(t *testing.T, m *Model, threshold int64) []*tarLayer {
	t.Helper()
	layers, err := planLayers(m, threshold, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return layers
}

// imageDigest builds an image over an empty base, without a registry.
func imageDigest(t *testing.T, dir string, threshold int64) (string, []*tarLayer) {
	t.Helper()
	layers := plan(t, open(t, dir), threshold)
	if _, err := hashLayers(layers, digestCache{fileSums: true}); err != nil {
		t.Fatal(err)
	}
	img, err := assemble(empty.Image, layers, map[string]string{"org.opencontainers.image.created": epoch.Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String(), layers
}

// Two builds in different directories, with files written at different
// times and with different permissions, give the same image digest.
func TestReproducible(t *testing.T) {
	a := model(t, hfModel)
	time.Sleep(10 * time.Millisecond)
	b := model(t, hfModel)
	if err := os.Chmod(filepath.Join(b, "config.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(b, "tokenizer.json"), time.Now(), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	da, _ := imageDigest(t, a, 4000)
	db, _ := imageDigest(t, b, 4000)
	if da != db {
		t.Fatalf("same model, different digests: %s vs %s", da, db)
	}
	hfModel2 := map[string]string{}
	for k, v := range hfModel {
		hfModel2[k] = v
	}
	hfModel2["tokenizer.json"] = `{"changed":true}`
	if dc, _ := imageDigest(t, model(t, hfModel2), 4000); dc == da {
		t.Fatal("a changed file did not change the digest")
	}
}

// Large files get their own layer; changing one shard changes only its
// layer's digest.
func TestOneLayerPerLargeFile(t *testing.T) {
	_, layers := imageDigest(t, model(t, hfModel), 4000)
	if len(layers) != 2 || len(layers[0].files) != 3 || layers[1].files[0].Rel != "model-00002-of-00002.safetensors" {
		t.Fatalf("layers: %+v", layers)
	}
	changed := map[string]string{}
	for k, v := range hfModel {
		changed[k] = v
	}
	changed["model-00002-of-00002.safetensors"] = strings.Repeat("c", 5000)
	_, after := imageDigest(t, model(t, changed), 4000)
	if after[0].digest != layers[0].digest || after[1].digest == layers[1].digest {
		t.Fatal("changing one shard should change exactly its layer")
	}
}

// Every header is the same on any machine: root-owned, no names, one
// mtime, a=rX, parents before children, sorted.
func TestTarHeaderInvariants(t *testing.T) {
	dir := model(t, map[string]string{"1/model.xml": "x", "1/model.bin": "yy", "run.sh": "#!/bin/sh"})
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o700); err != nil {
		t.Fatal(err)
	}
	m := open(t, dir)
	l := &tarLayer{model: m, files: m.Files, mtime: epoch.Add(300 * time.Millisecond)}
	var err error
	if l.segs, l.size, err = layout(l.files, l.mtime); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	d := newDigester(l, true)
	if err := l.emit(&buf, d); err != nil {
		t.Fatal(err)
	}
	d.finish(l)
	if int64(buf.Len()) != l.size {
		t.Fatalf("layer is %d bytes, its layout said %d", buf.Len(), l.size)
	}
	tr := tar.NewReader(&buf)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: uid %d gid %d uname %q gname %q mtime %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		want := int64(0o444)
		if h.Typeflag == tar.TypeDir || h.Name == "models/run.sh" {
			want = 0o555
		}
		if h.Mode != want {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, want)
		}
	}
	if strings.Join(names, " ") != "models/ models/1/ models/1/model.bin models/1/model.xml models/run.sh" {
		t.Fatalf("entries: %v", names)
	}
	for i, s := range l.fileSums {
		if len(s) != 64 {
			t.Errorf("file %s: sha256 %q", l.files[i].Rel, s)
		}
	}
}

func TestManifestAndLayerAnnotations(t *testing.T) {
	layers := plan(t, open(t, model(t, hfModel)), 4000)
	if _, err := hashLayers(layers, digestCache{}); err != nil {
		t.Fatal(err)
	}
	o := Options{Created: epoch, Source: "https://git.example.com/models/granite", Revision: "abc123", Licenses: "Apache-2.0"}
	base, _ := empty.Image.Digest()
	_, baseRef, err := (Options{Base: "registry.example.com/ubi@" + base.String(), Target: "r/x:1"}).refs()
	if err != nil {
		t.Fatal(err)
	}
	img, err := assemble(empty.Image, layers, o.annotations(baseRef, base))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.created":     "2023-11-14T22:13:20Z",
		"org.opencontainers.image.source":      o.Source,
		"org.opencontainers.image.revision":    "abc123",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.base.name":   "registry.example.com/ubi",
		"org.opencontainers.image.base.digest": base.String(),
	} {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	if _, ok := m.Annotations["org.opencontainers.image.version"]; ok {
		t.Error("empty version should be left out")
	}
	last := m.Layers[len(m.Layers)-1]
	if last.Annotations["org.cncf.model.filepath"] != "/models/model-00002-of-00002.safetensors" || last.MediaType != "application/vnd.oci.image.layer.v1.tar" {
		t.Errorf("last layer descriptor: %+v", last)
	}
	cfg, _ := img.ConfigFile()
	if !cfg.Created.Time.Equal(epoch) {
		t.Errorf("config created %v", cfg.Created)
	}
}

func TestRefsRefuseTagBase(t *testing.T) {
	if _, _, err := (Options{Base: "registry.example.com/ubi:9", Target: "r/x:1"}).refs(); err == nil || !strings.Contains(err.Error(), "pin it by digest") {
		t.Fatalf("tag base: %v", err)
	}
	if _, _, err := (Options{Base: "registry.example.com/ubi:9", Target: "r/x:1", AllowTagBase: true}).refs(); err != nil {
		t.Fatalf("tag base allowed: %v", err)
	}
}

func TestOpenModelRefusesBadTrees(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	escape := model(t, map[string]string{"config.json": "{}"})
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(escape, "weights.bin")); err != nil {
		t.Fatal(err)
	}
	inside := model(t, map[string]string{"real.bin": "w"})
	if err := os.Symlink("real.bin", filepath.Join(inside, "alias.bin")); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ dir, want string }{
		"missing": {filepath.Join(outside, "nope"), "no such file"},
		"empty":   {t.TempDir(), "holds no files"},
		"escape":  {escape, "weights.bin: symlink points outside the model directory"},
	} {
		if _, err := OpenModel(tc.dir, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", name, err, tc.want)
		}
	}
	m, err := OpenModel(inside, "")
	if err != nil || len(m.Files) != 2 {
		t.Fatalf("symlink inside the model: %v %+v", err, m)
	}
	m.Close()
}

func TestDigestCache(t *testing.T) {
	m := open(t, model(t, hfModel))
	cache := digestCache{dir: t.TempDir(), fileSums: true}
	first := plan(t, m, 4000)
	if got, err := hashLayers(first, cache); err != nil || got[0] || got[1] {
		t.Fatalf("first build: cached=%v err=%v", got, err)
	}
	// The files were written just now: within racyWindow, so nothing was
	// remembered (a same-size edit in the same timestamp tick would go
	// unseen).
	again := plan(t, m, 4000)
	if got, err := hashLayers(again, cache); err != nil || got[0] || got[1] {
		t.Fatalf("files changed %s ago were trusted: cached=%v err=%v", racyWindow, got, err)
	}
	for _, l := range first {
		cache.store(l, time.Now().Add(racyWindow))
	}
	again = plan(t, m, 4000)
	got, err := hashLayers(again, cache)
	if err != nil || !got[0] || !got[1] || again[1].digest != first[1].digest || again[1].fileSums[0] != first[1].fileSums[0] {
		t.Fatalf("second build: cached=%v err=%v", got, err)
	}
}

// hashLayers gets every layer's digest, from the cache where it can, the
// way a build without a registry would.
func hashLayers(layers []*tarLayer, cache digestCache) ([]bool, error) {
	fromCache := make([]bool, len(layers))
	for i, l := range layers {
		if fromCache[i] = cache.load(l); !fromCache[i] {
			start := time.Now()
			if err := l.hash(cache.fileSums); err != nil {
				return nil, err
			}
			cache.store(l, start)
		}
	}
	return fromCache, nil
}
