package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// controllerProcess is one running replica of the modelguard controller.
type controllerProcess struct {
	*localcluster.Process
	metricsPort int
}

// startController runs this test binary as the controller, with the
// ServiceAccount identity's kubeconfig, and waits until it holds or
// contends for its lease and serves metrics.
func startController(ctx context.Context, c *localcluster.Cluster, name string) (*controllerProcess, error) {
	ports := make([]int, 3)
	for i := range ports {
		p, err := localcluster.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find test binary: %w", err)
	}
	p, err := c.StartProcess(name,
		[]string{exe, "-kubeconfig", c.Kubeconfig(localcluster.UserController)},
		[]string{
			roleEnv + "=controller",
			"SYSTEM_NAMESPACE=" + localcluster.ControllerNamespace,
			"POD_NAME=" + name,
			"METRICS_PROMETHEUS_PORT=" + strconv.Itoa(ports[0]),
			"PROBES_PORT=" + strconv.Itoa(ports[1]),
			"PROFILING_PORT=" + strconv.Itoa(ports[2]),
		})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cp := &controllerProcess{Process: p, metricsPort: ports[0]}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.Exited() {
			return nil, fmt.Errorf("%s exited at start:\n%s", name, tail(p.LogPath(), 30))
		}
		if _, err := cp.metrics(); err == nil && ready(ports[1]) {
			return cp, nil
		}
		if time.Now().After(deadline) {
			_ = p.Kill()
			return nil, fmt.Errorf("%s not ready within 60s:\n%s", name, tail(p.LogPath(), 30))
		}
		select {
		case <-ctx.Done():
			_ = p.Kill()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ready(port int) bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readiness", port))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// metrics scrapes the controller's Prometheus endpoint.
func (cp *controllerProcess) metrics() (string, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", cp.metricsPort))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("metrics: HTTP %d", resp.StatusCode)
	}
	return string(b), err
}

// metricSum adds up every sample of a metric whose labels contain all of
// the given label="value" pairs.
func metricSum(text, name string, labels ...string) float64 {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(line, l)
		}
		if !match {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// leaseHolders lists who holds the controller's leases.
func leaseHolders(ctx context.Context) (map[string]string, error) {
	ls, err := env.kube.CoordinationV1().Leases(localcluster.ControllerNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range ls.Items {
		if l.Spec.HolderIdentity != nil {
			out[l.Name] = *l.Spec.HolderIdentity
		}
	}
	return out, nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
