package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/modelguard/modelguard/test/tools"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TektonNamespace is where Tekton's configuration and leases live.
const TektonNamespace = "tekton-pipelines"

// TektonVersionEnv names the environment variable that picks the Tekton
// version of clusters whose Config does not (see Config.TektonVersion).
const TektonVersionEnv = "MODELGUARD_TEKTON_VERSION"

// Placeholder image references for the controller's image flags. Nothing
// pulls them: the cluster has no node. Config.TektonImages overrides them.
var defaultTektonImages = map[string]string{
	"entrypoint-image":        "127.0.0.1:5000/tekton/entrypoint:latest",
	"nop-image":               "127.0.0.1:5000/tekton/nop:latest",
	"sidecarlogresults-image": "127.0.0.1:5000/tekton/sidecarlogresults:latest",
	"workingdirinit-image":    "127.0.0.1:5000/tekton/workingdirinit:latest",
	"shell-image":             "127.0.0.1:5000/tekton/busybox:latest",
	"shell-image-win":         "127.0.0.1:5000/tekton/powershell:latest",
}

// checkPort8080 fails if port 8080 is taken. knative's sharedmain inside the
// Tekton controller always serves health probes on :8080, whatever
// PROBES_PORT says, and the controller exits if it cannot; the usual culprit
// is another local cluster.
func checkPort8080() error {
	for _, addr := range []string{"127.0.0.1:8080", ":8080"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("port 8080 is in use — is another local cluster (make demo) still running? stop it with `make demo-stop` (the Tekton controller always binds :8080): %w", err)
		}
		l.Close()
	}
	return nil
}

// startTekton installs Tekton's namespace, CRDs and config maps from the
// pipeline module and runs its controller out-of-cluster as admin. There is
// no Tekton webhook: nothing defaults or validates Tekton objects on
// admission, but the reconcilers run.
func (c *Cluster) startTekton(ctx context.Context, images, flags map[string]string) error {
	cfgDir, err := tektonConfigDir(ctx, c.Tools.TektonVersion)
	if err != nil {
		return err
	}
	apply := func(files ...string) error {
		args := []string{"apply", "--server-side"}
		for _, f := range files {
			args = append(args, "-f", f)
		}
		if _, err := c.Kubectl(ctx, UserAdmin, args...); err != nil {
			return fmt.Errorf("install tekton config: %w", err)
		}
		return nil
	}
	if err := apply(filepath.Join(cfgDir, "100-namespace") + "/"); err != nil {
		return err
	}
	if err := apply(filepath.Join(cfgDir, "300-crds") + "/"); err != nil {
		return err
	}
	if _, err := c.Kubectl(ctx, UserAdmin, "wait", "--for", "condition=established", "--timeout=60s", "crd", "--all"); err != nil {
		return fmt.Errorf("wait for tekton CRDs: %w", err)
	}
	configs, err := filepath.Glob(filepath.Join(cfgDir, "config-*.yaml"))
	if err != nil || len(configs) == 0 {
		return fmt.Errorf("no config-*.yaml in %s", cfgDir)
	}
	if err := apply(configs...); err != nil {
		return err
	}
	if len(flags) > 0 {
		patch, err := json.Marshal(map[string]any{"data": flags})
		if err != nil {
			return err
		}
		if _, err := c.Kubectl(ctx, UserAdmin, "-n", TektonNamespace, "patch", "configmap", "feature-flags", "--type=merge", "-p", string(patch)); err != nil {
			return fmt.Errorf("set tekton feature flags: %w", err)
		}
	}

	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	c.ports = append(c.ports, ports...)
	argv := []string{c.Tools.TektonController, "-kubeconfig", c.Kubeconfig(UserAdmin)}
	for _, flag := range []string{"entrypoint-image", "nop-image", "sidecarlogresults-image",
		"workingdirinit-image", "shell-image", "shell-image-win"} {
		img := defaultTektonImages[flag]
		if v := images[flag]; v != "" {
			img = v
		}
		argv = append(argv, "-"+flag, img)
	}
	// The environment of config/controller.yaml, with free ports instead
	// of the fixed ones a pod can afford.
	env := []string{
		"SYSTEM_NAMESPACE=" + TektonNamespace,
		"KUBERNETES_MIN_VERSION=v1.28.0",
		"CONFIG_DEFAULTS_NAME=config-defaults",
		"CONFIG_LOGGING_NAME=config-logging",
		"CONFIG_OBSERVABILITY_NAME=config-observability",
		"CONFIG_FEATURE_FLAGS_NAME=feature-flags",
		"CONFIG_LEADERELECTION_NAME=config-leader-election-controller",
		"CONFIG_SPIRE=config-spire",
		"METRICS_DOMAIN=tekton.dev/pipeline",
		"PROBES_PORT=" + strconv.Itoa(ports[0]),
		"PROFILING_PORT=" + strconv.Itoa(ports[1]),
		"METRICS_PROMETHEUS_PORT=" + strconv.Itoa(ports[2]),
		"METRICS_PROMETHEUS_HOST=127.0.0.1",
	}
	p, err := c.StartProcess("tekton-controller", argv, env)
	if err != nil {
		return err
	}
	return c.waitTektonLease(ctx, p)
}

// waitTektonLease waits until the controller holds a leader election Lease:
// then its informers have synced and its reconcilers run.
func (c *Cluster) waitTektonLease(ctx context.Context, p *Process) error {
	client, err := kubernetes.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	deadline := time.Now().Add(readyTimeout)
	var last string
	for {
		leases, err := client.CoordinationV1().Leases(TektonNamespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, l := range leases.Items {
				if strings.HasPrefix(l.Name, "tekton-pipelines-controller") {
					return nil
				}
			}
			last = fmt.Sprintf("%d leases, none of the controller", len(leases.Items))
		} else {
			last = err.Error()
		}
		if p.Exited() {
			return fmt.Errorf("tekton controller exited while starting; log tail:\n%s", logTail(p.LogPath(), 40))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tekton controller holds no lease after %s (%s); log tail:\n%s", readyTimeout, last, logTail(p.LogPath(), 40))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for tekton lease: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tektonConfigDir returns the config/ dir of github.com/tektoncd/pipeline
// at version, so the CRDs match the controller binary.
func tektonConfigDir(ctx context.Context, version string) (string, error) {
	dir, err := tools.ModuleDir(ctx, "github.com/tektoncd/pipeline", version)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "config"), nil
}
