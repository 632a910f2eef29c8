package tools

import (
	"context"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// wrapperImage is a controller image built with ko from another project's
// module, in a wrapper module of its own (its dependency graph is not the
// project's), cached per machine by version and base image.
type wrapperImage struct {
	what    string // for messages, e.g. "chains v0.26.2"
	name    string // wrapper and cache name, e.g. "chains"
	module  string
	version string
	cmd     string   // the main package, e.g. github.com/tektoncd/chains/cmd/controller
	extra   []string // replace directives beyond the module's own
	layout  string   // the image's name in its cache layout
	took    string   // how long a first build takes, for the log
}

// image returns the image from its cache, building it first if needed.
// Like Tekton's images it is built on the busybox base, whose digest is
// part of the cache key.
func (w wrapperImage) image(ctx context.Context, t *Tools, log io.Writer) (v1.Image, string, error) {
	if log == nil {
		log = io.Discard
	}
	base, err := busyboxImage()
	if err != nil {
		return nil, "", err
	}
	dir, err := koCacheDir(w.name+"-"+w.version, base)
	if err != nil {
		return nil, "", err
	}
	imgs, err := cachedLayout(ctx, log, dir, []string{w.layout}, func() error {
		start := time.Now()
		if err := w.build(ctx, t, base, dir, log); err != nil {
			return fmt.Errorf("build %s image: %w", w.what, err)
		}
		fmt.Fprintf(log, "tools: built %s image in %s\n", w.what, time.Since(start).Round(time.Second))
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return imgs[w.layout], dir, nil
}

// build runs ko in the wrapper module and writes the image into an OCI
// layout at dir.
func (w wrapperImage) build(ctx context.Context, t *Tools, base v1.Image, dir string, log io.Writer) error {
	fmt.Fprintf(log, "tools: building the %s image with ko (first run on this machine, %s)\n", w.what, w.took)
	root, err := CacheRoot()
	if err != nil {
		return err
	}
	b := &builder{root: root, log: log}
	src, err := b.replacingWrapper(ctx, w.name, w.module, w.version, w.extra, w.cmd)
	if err != nil {
		return err
	}
	return koLayout(ctx, t, src, base, dir, log, map[string]string{w.layout: w.cmd})
}
