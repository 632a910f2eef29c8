package localcluster

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Controller is a modelguard controller process started by
// StartController.
type Controller struct {
	*Process
	MetricsPort int // Prometheus metrics, /metrics
	ProbesPort  int // /readiness and /health
}

// StartController runs argv (the controller binary and any flags) as the
// modelguard controller under its ServiceAccount's identity, the one
// config/ binds, with the environment a Deployment would give it and free
// ports for metrics, probes and profiling. It waits until the process
// serves metrics and answers its readiness probe. name is its pod name
// (leader-election identity) and process name.
func (c *Cluster) StartController(ctx context.Context, name string, argv []string, extraEnv ...string) (*Controller, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	env := append([]string{
		"SYSTEM_NAMESPACE=" + ControllerNamespace,
		"POD_NAME=" + name,
		"METRICS_PROMETHEUS_PORT=" + strconv.Itoa(ports[0]),
		"PROBES_PORT=" + strconv.Itoa(ports[1]),
		"PROFILING_PORT=" + strconv.Itoa(ports[2]),
	}, extraEnv...)
	p, err := c.StartProcess(name, append(argv, "-kubeconfig", c.Kubeconfig(UserController)), env)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	ctl := &Controller{Process: p, MetricsPort: ports[0], ProbesPort: ports[1]}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.Exited() {
			return nil, fmt.Errorf("%s exited at start:\n%s", name, logTail(p.LogPath(), 30))
		}
		if httpOK(ctl.MetricsPort, "/metrics") && httpOK(ctl.ProbesPort, "/readiness") {
			return ctl, nil
		}
		if time.Now().After(deadline) {
			_ = p.Kill()
			return nil, fmt.Errorf("%s not ready within 60s:\n%s", name, logTail(p.LogPath(), 30))
		}
		select {
		case <-ctx.Done():
			_ = p.Kill()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func httpOK(port int, path string) bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
