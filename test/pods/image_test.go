package pods

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/tools"
)

// nonRoot is the uid the modelguard image runs as. The Tasks' steps say
// runAsNonRoot without a uid, so the image must name a numeric non-root
// user, as distroless "nonroot" images do.
const nonRoot = "65532:65532"

// buildModelguardImage builds cmd/modelguard with ko onto the node's
// busybox base, made non-root, and returns it by digest.
func buildModelguardImage(ctx context.Context, c *localcluster.Cluster) (string, error) {
	base, err := nonRootBase(c)
	if err != nil {
		return "", err
	}
	start := time.Now()
	refs, err := tools.KoBuild(ctx, tools.KoOptions{
		Ko: c.Tools.Ko, Dir: repoRoot(), ImportPaths: []string{"./cmd/modelguard"},
		Repo: c.Registry + "/modelguard", Base: base,
	})
	if err != nil {
		return "", err
	}
	fmt.Printf("pods: modelguard image %s built with ko in %s\n", refs[0], time.Since(start).Round(time.Millisecond))
	return refs[0], nil
}

// nonRootBase pushes the busybox base with User set to nonRoot.
func nonRootBase(c *localcluster.Cluster) (string, error) {
	ref, err := name.ParseReference(c.Images.Busybox, name.Insecure)
	if err != nil {
		return "", err
	}
	img, err := remote.Image(ref)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cfg := cf.Config
	cfg.User = nonRoot
	if img, err = mutate.Config(img, cfg); err != nil {
		return "", err
	}
	tag, err := name.NewTag(c.Registry+"/modelguard/base-nonroot:latest", name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(tag, img); err != nil {
		return "", fmt.Errorf("push %s: %w", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return tag.Context().Digest(d.String()).String(), nil
}
