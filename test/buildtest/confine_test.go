package buildtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/pkg/modelcar"
	"github.com/modelguard/modelguard/test/ociregistry"
)

// A file swapped for a symlink after the layout check (here: while the
// build fetches its base image, which comes between the check and the
// first read) is refused with its name, by the engine and by the CLI
// alike, and nothing is pushed.
func TestSwapForSymlinkIsRefused(t *testing.T) {
	reg := ociregistry.Start(t)
	base := pushBase(t, reg)
	bin := modelguardBinary(t)
	secret := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(secret, []byte(`{"auths":{"registry.example.com":{"auth":"c2VjcmV0"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	const want = "tokenizer.json: replaced by a symlink after the layout check; refusing to read it"
	swapOnBaseFetch := func(dir string) {
		reg.OnManifestGet(func(repo string) {
			if repo != "base/ubi-micro" {
				return
			}
			reg.OnManifestGet(nil)
			p := filepath.Join(dir, "tokenizer.json")
			if err := os.Remove(p); err != nil {
				t.Error(err)
			}
			if err := os.Symlink(secret, p); err != nil {
				t.Error(err)
			}
		})
	}

	engine := t.TempDir()
	writeModel(t, engine, granite)
	swapOnBaseFetch(engine)
	_, err := modelcar.Build(context.Background(), options(reg, base, engine, "models/granite:swapped"))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("engine: err = %v; want %q", err, want)
	}

	cli := t.TempDir()
	writeModel(t, cli, granite)
	swapOnBaseFetch(cli)
	code, _, stderr := runCLI(t, bin, "build", "--model", cli, "--base", base, "--target", reg.Host+"/models/granite:swapped",
		"--runtime", "vllm", "--layer-threshold", "100k", "--cache-dir", "", "--source-date-epoch", "0")
	if code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("CLI: exit %d, stderr %q; want %q", code, stderr, want)
	}
	if n := reg.ManifestPuts("models/granite"); n != 0 {
		t.Fatalf("%d manifests pushed after a swap", n)
	}
}

// The engine refuses a model path that leads out of the directory it is
// allowed to read, with the message the Task's step gives
// (TestModelImageBuildTaskStep), before anything reaches the registry.
func TestModelOutsideWithinIsRefused(t *testing.T) {
	reg := ociregistry.Start(t)
	base := pushBase(t, reg)
	work := t.TempDir()
	ws := filepath.Join(work, "model")
	writeModel(t, filepath.Join(ws, "granite"), granite)
	writeModel(t, filepath.Join(work, "dockerconfig"), map[string]string{"config.json": `{"auths":{}}`})
	o := options(reg, base, filepath.Join(ws, "../dockerconfig"), "models/granite:escape")
	o.Runtime, o.Within = modelcar.None, ws
	reg.Reset()
	_, err := modelcar.Build(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "is outside "+ws) {
		t.Fatalf("err = %v", err)
	}
	if n := reg.BlobPuts(); n != 0 {
		t.Fatalf("%d blobs pushed from outside the workspace", n)
	}
}

// Over HTTPS the layer bodies are written on the builder's own TLS
// connections (with the transport's trust), and what comes back is the
// model.
func TestBuildOverTLS(t *testing.T) {
	reg, tr := ociregistry.StartTLS(t)
	ref, err := name.ParseReference(reg.Host + "/base/ubi-micro:9")
	if err != nil {
		t.Fatal(err)
	}
	img := baseImage(t)
	if err := remote.Write(ref, img, remote.WithTransport(tr)); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	dir := t.TempDir()
	writeModel(t, dir, granite)
	o := options(reg, reg.Host+"/base/ubi-micro@"+d.String(), dir, "models/granite:tls")
	o.Transport = tr
	res, err := modelcar.Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := name.ParseReference(res.ImageURL)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(pushed, remote.WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	got := readTree(t, pulled)
	for p, content := range granite {
		if got["models/"+p].content != content {
			t.Errorf("models/%s differs after a push over TLS", p)
		}
	}
}
