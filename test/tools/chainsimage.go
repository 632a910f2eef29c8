package tools

import (
	"context"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ChainsControllerCmd is the controller's main package, the one Chains'
// release Deployment names as image ko://github.com/tektoncd/chains/cmd/controller.
const ChainsControllerCmd = "github.com/tektoncd/chains/cmd/controller"

// chainsImage: Chains gets a module of its own because its controller does
// not compile beside the pipeline version the project uses (it needs a
// knative.dev/pkg that still has the metrics package).
var chainsImage = wrapperImage{
	what: "chains " + ChainsVersion + " controller", name: "chains", module: "github.com/tektoncd/chains", version: ChainsVersion,
	cmd: ChainsControllerCmd, layout: "chains-controller", took: "~4 min",
}

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
// building it first if needed.
func ChainsImage(ctx context.Context, t *Tools, log io.Writer) (v1.Image, string, error) {
	return chainsImage.image(ctx, t, log)
}
