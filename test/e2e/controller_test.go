package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/modelguard/modelguard/test/localcluster"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// controllerProcess is one running replica of the modelguard controller.
type controllerProcess struct{ *localcluster.Controller }

// startController runs cmd/e2e-controller (cmd/controller's process plus
// the test-only Echo kind) as the controller, under its ServiceAccount,
// and waits until it serves metrics and is ready.
func startController(ctx context.Context, c *localcluster.Cluster, name string) (*controllerProcess, error) {
	ctl, err := c.StartController(ctx, name, []string{env.controllerBin})
	if err != nil {
		return nil, err
	}
	return &controllerProcess{ctl}, nil
}

// metrics scrapes the controller's Prometheus endpoint.
func (cp *controllerProcess) metrics() (string, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", cp.MetricsPort))
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
