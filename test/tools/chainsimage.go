package tools

import (
	"context"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ChainsControllerCmd is the controller's main package, the one Chains'
// release Deployment names as image ko://github.com/tektoncd/chains/cmd/controller.
const ChainsControllerCmd = "github.com/tektoncd/chains/cmd/controller"

// chainsImageName names the controller image in its cache layout.
const chainsImageName = "chains-controller"

// EnsureChainsImage builds (once per machine, cached by version under the
// cache root) the Chains controller image and returns where it is cached.
// InstallChains calls it; `make tools` does too, so tests start warm.
func EnsureChainsImage(ctx context.Context, log io.Writer) (string, error) {
	t, err := EnsureNode(ctx, log)
	if err != nil {
		return "", err
	}
	_, dir, err := ChainsImage(ctx, t, log)
	return dir, err
}

// ChainsImage returns the Chains controller image from its cache,
// building it first if needed. Like Tekton's images it is built on the
// busybox base, whose digest is part of the cache key.
func ChainsImage(ctx context.Context, t *Tools, log io.Writer) (v1.Image, string, error) {
	if log == nil {
		log = io.Discard
	}
	base, err := busyboxImage()
	if err != nil {
		return nil, "", err
	}
	dir, err := koCacheDir("chains-"+ChainsVersion, base)
	if err != nil {
		return nil, "", err
	}
	imgs, err := cachedLayout(ctx, log, dir, []string{chainsImageName}, func() error {
		start := time.Now()
		if err := buildChainsImage(ctx, t, base, dir, log); err != nil {
			return fmt.Errorf("build chains image: %w", err)
		}
		fmt.Fprintf(log, "tools: built chains %s image in %s\n", ChainsVersion, time.Since(start).Round(time.Second))
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return imgs[chainsImageName], dir, nil
}

// buildChainsImage builds the controller with ko in a wrapper module that
// repeats Chains' replace directives. Chains gets a module of its own: its
// controller does not compile beside the pipeline version the project uses
// (it needs a knative.dev/pkg that still has the metrics package). ko
// pushes to a throwaway in-process registry that also serves the base; the
// image is then copied into an OCI layout at dir.
func buildChainsImage(ctx context.Context, t *Tools, base v1.Image, dir string, log io.Writer) error {
	fmt.Fprintf(log, "tools: building the chains %s controller image with ko (first run on this machine, ~4 min)\n", ChainsVersion)
	root, err := CacheRoot()
	if err != nil {
		return err
	}
	b := &builder{root: root, log: log}
	src, err := b.replacingWrapper(ctx, "chains", "github.com/tektoncd/chains", ChainsVersion, ChainsControllerCmd)
	if err != nil {
		return err
	}
	return koLayout(ctx, t, src, base, dir, log, map[string]string{chainsImageName: ChainsControllerCmd})
}
