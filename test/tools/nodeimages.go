package tools

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// tektonImageCmds are the Tekton commands that run inside pods, by image
// name; the controller gets each by flag.
var tektonImageCmds = []string{"entrypoint", "nop", "workingdirinit", "sidecarlogresults"}

// NodeImages holds the images of a node before they are pushed.
type NodeImages struct {
	Busybox, Pause v1.Image
	Tekton         map[string]v1.Image // by name: entrypoint, nop, workingdirinit, sidecarlogresults
}

// EnsureNodeImages builds (once per machine, cached by version under the
// cache root) the images a node needs and returns where they are cached.
// Start pushes them into each cluster's registry; `make tools` calls this
// so tests start warm.
func EnsureNodeImages(ctx context.Context, log io.Writer) (string, error) {
	t, err := EnsureNode(ctx, log)
	if err != nil {
		return "", err
	}
	_, dir, err := LoadNodeImages(ctx, t, log)
	return dir, err
}

// LoadNodeImages returns the node images, building Tekton's with ko into
// the cache if they are not there. The busybox and pause images are built
// in memory each time (milliseconds); their digest is part of the cache key
// of Tekton's images, which are built on top of busybox.
func LoadNodeImages(ctx context.Context, t *Tools, log io.Writer) (*NodeImages, string, error) {
	if log == nil {
		log = io.Discard
	}
	busybox, err := busyboxImage()
	if err != nil {
		return nil, "", err
	}
	pause, err := pauseImage(busybox)
	if err != nil {
		return nil, "", err
	}
	dir, err := koCacheDir("tekton-"+TektonVersion, busybox)
	if err != nil {
		return nil, "", err
	}
	ni := &NodeImages{Busybox: busybox, Pause: pause}
	ni.Tekton, err = cachedLayout(ctx, log, dir, tektonImageCmds, func() error {
		start := time.Now()
		if err := buildTektonImages(ctx, t, busybox, dir, log); err != nil {
			return fmt.Errorf("build tekton images: %w", err)
		}
		fmt.Fprintf(log, "tools: built tekton images in %s\n", time.Since(start).Round(time.Second))
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return ni, dir, nil
}

// buildTektonImages builds Tekton's pod images with ko in a wrapper module
// (github.com/tektoncd/pipeline at TektonVersion, no .ko.yaml, so nothing
// points at a public registry), pushing to a throwaway in-process registry
// that also serves the base; then copies them into an OCI layout at dir.
func buildTektonImages(ctx context.Context, t *Tools, base v1.Image, dir string, log io.Writer) error {
	fmt.Fprintf(log, "tools: building tekton %s images with ko (first run on this machine, ~2-3 min)\n", TektonVersion)
	root, err := CacheRoot()
	if err != nil {
		return err
	}
	b := &builder{root: root, log: log}
	src, err := b.wrapperDir("tekton-images-" + TektonVersion)
	if err != nil {
		return err
	}
	var imports []string
	cmds := map[string]string{}
	for _, c := range tektonImageCmds {
		p := "github.com/tektoncd/pipeline/cmd/" + c
		cmds[c] = p
		imports = append(imports, fmt.Sprintf("\t_ %q\n", p))
	}
	if err := writeFile(src, "go.mod", "module modelguard.local/tools/tekton-images\n\ngo 1.26\n\nrequire github.com/tektoncd/pipeline "+TektonVersion+"\n"); err != nil {
		return err
	}
	if err := writeFile(src, "tools.go", "//go:build tools\n\npackage tools\n\nimport (\n"+strings.Join(imports, "")+")\n"); err != nil {
		return err
	}
	if err := b.goCmd(ctx, src, "tidy", "mod", "tidy"); err != nil {
		return err
	}
	return koLayout(ctx, t, src, base, dir, log, cmds)
}

// koLayout builds the main packages of the module at src with ko onto
// base and writes the images into a new OCI layout at dir, each named as
// cmds says (layout name → import path). ko pushes to a throwaway
// in-process registry that also serves the base.
func koLayout(ctx context.Context, t *Tools, src string, base v1.Image, dir string, log io.Writer, cmds map[string]string) error {
	host, stop, err := serveMemoryRegistry()
	if err != nil {
		return err
	}
	defer stop()
	baseRef, err := PushImage(ctx, host+"/busybox:base", base)
	if err != nil {
		return err
	}
	var names, paths []string
	for n, p := range cmds {
		names, paths = append(names, n), append(paths, p)
	}
	refs, err := KoBuild(ctx, KoOptions{
		Ko: t.Ko, Dir: src, ImportPaths: paths, Repo: host + "/build", Base: baseRef, Log: log,
		Env: []string{"GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off"},
	})
	if err != nil {
		return err
	}
	images := map[string]v1.Image{}
	for i, r := range refs {
		ref, err := name.ParseReference(r)
		if err != nil {
			return fmt.Errorf("parse %s: %w", r, err)
		}
		img, err := remote.Image(ref, remote.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("pull %s: %w", r, err)
		}
		images[names[i]] = img
	}
	return writeImageLayout(dir, images)
}

// serveMemoryRegistry runs go-containerregistry's in-memory registry on a
// free loopback port until stop is called.
func serveMemoryRegistry() (host string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen for build registry: %w", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return l.Addr().String(), func() { _ = srv.Close() }, nil
}

// imageRefName is the OCI annotation that names an image in a layout.
const imageRefName = "org.opencontainers.image.ref.name"

// writeImageLayout writes images into a new OCI layout at dir, each named
// by the ref.name annotation. It writes a temporary dir and renames it, so
// a killed build never leaves half a cache entry.
func writeImageLayout(dir string, images map[string]v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create image cache: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return fmt.Errorf("create image cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("write image layout: %w", err)
	}
	for n, img := range images {
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{imageRefName: n})); err != nil {
			return fmt.Errorf("write image %s to layout: %w", n, err)
		}
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("install image cache: %w", err)
	}
	return nil
}

// readImageLayout reads the images of a layout written by writeImageLayout,
// by name; an error if any of want is missing.
func readImageLayout(dir string, want []string) (map[string]v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read image cache: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read image cache: %w", err)
	}
	images := map[string]v1.Image{}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("read image cache: %w", err)
		}
		images[d.Annotations[imageRefName]] = img
	}
	for _, n := range want {
		if images[n] == nil {
			return nil, fmt.Errorf("image cache %s has no %s image", dir, n)
		}
	}
	return images, nil
}

// PushImage pushes img to ref (a tag) and returns the reference by digest.
func PushImage(ctx context.Context, ref string, img v1.Image) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return r.Context().Name() + "@" + d.String(), nil
}
