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

// InstallModelguardRelease installs modelguard from a release the way its
// README says, `kubectl apply -f release.yaml`, after the KServe CRD
// stand-ins, and waits until the controller Deployment has rolled out:
// every replica Ready, in cluster, on the pod network. A namespace
// "modelguard" made beforehand (e.g. by RestrictedNamespace) keeps its
// labels. The cluster must have a node.
func (c *Cluster) InstallModelguardRelease(ctx context.Context, releaseYAML string) error {
	if !c.node {
		return fmt.Errorf("install modelguard release: the cluster has no node (Config.Node)")
	}
	for _, args := range [][]string{
		{"apply", "-f", kserveStandIns()},
		{"apply", "-f", releaseYAML},
	} {
		if out, err := c.Kubectl(ctx, UserAdmin, args...); err != nil {
			return fmt.Errorf("install modelguard release: kubectl %v: %w\n%s", args, err, out)
		}
	}
	return c.WaitControllerRollout(ctx)
}

// WaitControllerRollout waits until the modelguard controller Deployment
// has rolled out (kubectl rollout status), with the pods' description in
// the error if it does not.
func (c *Cluster) WaitControllerRollout(ctx context.Context) error {
	out, err := c.Kubectl(ctx, UserAdmin, "-n", ControllerNamespace, "rollout", "status", "deployment/modelguard-controller", "--timeout=4m")
	if err != nil {
		desc, _ := c.Kubectl(ctx, UserAdmin, "-n", ControllerNamespace, "describe", "pods")
		logs, _ := c.Kubectl(ctx, UserAdmin, "-n", ControllerNamespace, "logs", "-l", "app.kubernetes.io/name=modelguard-controller", "--tail=30", "--all-containers")
		return fmt.Errorf("modelguard controller rollout: %w\n%s\n%s\n%s", err, out, desc, logs)
	}
	return nil
}
