package localcluster

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/test/tools"
)

// ModelguardOptions say how InstallModelguard runs the controller.
type ModelguardOptions struct {
	// Controller is the controller's argv (binary and flags). Empty builds
	// ./cmd/controller from the checkout; the e2e tests pass their own test
	// binary, which adds a test-only kind.
	Controller []string
	// Env is added to the controller's environment.
	Env []string
	// NoKServeStandIns leaves out the KServe CRD stand-ins: for a cluster
	// that runs KServe itself (InstallKServe installs the real CRDs), or
	// where a deploy must not take the stand-ins for an installed KServe
	// (model-deploy's target auto asks the API server).
	NoKServeStandIns bool
}

// InstallModelguard installs modelguard as a cluster admin would — config/
// applied with kubectl (namespace, RBAC, persona roles, configuration) and
// the KServe CRD stand-ins the persona roles and tests name — and starts
// the controller out of cluster under its ServiceAccount's identity, so
// everything run against it also proves that config/'s RBAC is enough.
// config/'s own Deployment is scaled to zero: its image is a ko:// path.
func (c *Cluster) InstallModelguard(ctx context.Context, o ModelguardOptions) (*Controller, error) {
	root := tools.RepoRoot()
	if root == "" {
		return nil, fmt.Errorf("install modelguard: no modelguard checkout around the working dir")
	}
	steps := [][]string{
		{"apply", "-k", filepath.Join(root, "config")},
		{"-n", ControllerNamespace, "scale", "deployment", "modelguard-controller", "--replicas=0"},
	}
	if !o.NoKServeStandIns {
		steps = append(steps, []string{"apply", "-f", kserveStandIns()})
	}
	for _, args := range steps {
		if out, err := c.Kubectl(ctx, UserAdmin, args...); err != nil {
			return nil, fmt.Errorf("install modelguard: kubectl %v: %w\n%s", args, err, out)
		}
	}
	argv := o.Controller
	if len(argv) == 0 {
		bin := filepath.Join(c.Dir, "bin", "modelguard-controller")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/controller")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("install modelguard: go build ./cmd/controller: %w\n%s", err, out)
		}
		argv = []string{bin}
	}
	return c.StartController(ctx, "modelguard-controller", argv, o.Env...)
}

// kserveStandIns are the KServe CRDs (InferenceService, ServingRuntime) in
// the shape the persona roles and the deploy checks need, without KServe.
func kserveStandIns() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "kserve-crds.yaml")
}

// modelguardUser is the uid the modelguard image runs as. The Tasks'
// steps say runAsNonRoot without a uid, which the kubelet only accepts for
// an image whose user is numeric and not 0.
const modelguardUser = "65532:65532"

// BuildModelguardImage builds ./cmd/modelguard with ko onto the node's
// busybox base (with a non-root user) and pushes it into the cluster's
// registry; it returns the reference by digest: the step image of every
// Task and the demo model server. The cluster must have a node.
func (c *Cluster) BuildModelguardImage(ctx context.Context) (string, error) {
	if c.Images == nil || c.Registry == "" {
		return "", fmt.Errorf("build the modelguard image: the cluster has no node (Config.Node)")
	}
	root := tools.RepoRoot()
	if root == "" {
		return "", fmt.Errorf("build the modelguard image: no modelguard checkout around the working dir")
	}
	base, err := c.nonRootBase()
	if err != nil {
		return "", err
	}
	refs, err := tools.KoBuild(ctx, tools.KoOptions{
		Ko: c.Tools.Ko, Dir: root, ImportPaths: []string{"./cmd/modelguard"},
		Repo: c.Registry + "/modelguard", Base: base, Log: c.log,
	})
	if err != nil {
		return "", err
	}
	return refs[0], nil
}

// nonRootBase pushes the busybox base with its user set to modelguardUser.
func (c *Cluster) nonRootBase() (string, error) {
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
	cfg.User = modelguardUser
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
