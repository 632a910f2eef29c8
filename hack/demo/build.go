package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/modelguard/modelguard/test/localcluster"
)

// demoBuild starts a registry next to the cluster (stopped with it), puts
// a small base image in it, writes a small Hugging Face style model and
// builds a modelcar from it with `modelguard build`, twice, to show the
// digest does not change and nothing is uploaded again.
func demoBuild(ctx context.Context, c *localcluster.Cluster, root string, out io.Writer) (string, error) {
	host, err := startRegistry(c)
	if err != nil {
		return "", err
	}
	base, err := pushDemoBase(host)
	if err != nil {
		return "", err
	}
	model := filepath.Join(c.Dir, "demo-model", "tiny-granite")
	if err := writeDemoModel(model); err != nil {
		return "", err
	}
	bin := filepath.Join(c.Dir, "bin", "modelguard")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/modelguard")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build modelguard: %w\n%s", err, b)
	}
	args := []string{"build", "--model", model, "--runtime", "vllm", "--base", base,
		"--target", host + "/models/tiny-granite:1.0", "--source-date-epoch", "1735689600",
		"--layer-threshold", "1Mi", "--cache-dir", filepath.Join(c.Dir, "layer-digests"),
		"--bom", filepath.Join(c.Dir, "demo-model", "mlbom.cdx.json")}
	fmt.Fprintf(out, "  $ modelguard build --model tiny-granite --runtime vllm --base %s… --target %s/models/tiny-granite:1.0\n", base[:len(base)-56], host)
	for i, target := range []string{"1.0", "1.0-again"} {
		args[8] = host + "/models/tiny-granite:" + target
		cmd := exec.CommandContext(ctx, bin, args...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("modelguard build: %w\n%s", err, b)
		}
		if i == 0 {
			fmt.Fprint(out, indentLines(string(b), "    "))
		} else {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			fmt.Fprintf(out, "  built again as :%s -> %s (same digest; every layer's digest came from the cache and the registry had every blob)\n",
				target, strings.TrimPrefix(lines[len(lines)-2], "IMAGE_DIGEST="))
		}
	}
	return host, nil
}

// startRegistry runs CNCF distribution's registry as a process of the
// cluster, so `make demo-stop` stops it too.
func startRegistry(c *localcluster.Cluster) (string, error) {
	port, err := localcluster.FreePort()
	if err != nil {
		return "", err
	}
	host := "127.0.0.1:" + strconv.Itoa(port)
	dir := filepath.Join(c.Dir, "registry")
	config := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(config), 0o644); err != nil {
		return "", err
	}
	if _, err := c.StartProcess("registry", []string{c.Tools.Registry, "serve", filepath.Join(dir, "config.yml")}, nil); err != nil {
		return "", err
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + host + "/v2/"); err == nil {
			resp.Body.Close()
			return host, nil
		}
	}
	return "", fmt.Errorf("registry on %s did not start", host)
}

// pushDemoBase pushes a tiny base image (one layer with an os-release) and
// returns it pinned by digest.
func pushDemoBase(host string) (string, error) {
	layerTar, err := tarOf(map[string]string{"etc/os-release": "NAME=\"modelguard demo base\"\n"})
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(layerTar, types.OCIUncompressedLayer))
	if err != nil {
		return "", err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	ref, err := name.ParseReference(host + "/base/demo-micro:1")
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img); err != nil {
		return "", fmt.Errorf("push demo base: %w", err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return host + "/base/demo-micro@" + d.String(), nil
}

func writeDemoModel(dir string) error {
	files := map[string]string{
		"config.json":            `{"architectures":["GraniteForCausalLM"],"hidden_size":64}`,
		"tokenizer.json":         `{"version":"1.0"}`,
		"generation_config.json": `{}`,
	}
	for i := 1; i <= 2; i++ {
		files[fmt.Sprintf("model-%05d-of-00002.safetensors", i)] = strings.Repeat(string(rune('a'+i)), 2<<20)
	}
	for p, content := range files {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func indentLines(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

// tarOf is a small in-memory tar of the given files.
func tarOf(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for p, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
