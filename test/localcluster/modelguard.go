package localcluster

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"

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
	for _, args := range [][]string{
		{"apply", "-k", filepath.Join(root, "config")},
		{"-n", ControllerNamespace, "scale", "deployment", "modelguard-controller", "--replicas=0"},
		{"apply", "-f", kserveStandIns()},
	} {
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
