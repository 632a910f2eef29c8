// Package pods runs every catalog Task for real: in pods on a local node
// (kubelet + containerd), through the real Tekton controller, with the
// modelguard image built by ko into the node's registry. A Task whose YAML
// parses but whose step fails on a node fails here, not on a user's
// cluster.
//
// Only loopback addresses exist here, and the node has no kube-proxy, so
// TaskRun pods that call the API server, the registry or the ACS Central
// emulator run on the host network, with the in-cluster API address
// pointed at the apiserver's loopback port (see podTemplate). Nothing else
// about the Tasks changes.
package pods

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
)

var env *environment

type environment struct {
	cluster *localcluster.Cluster
	kube    kubernetes.Interface
	tekton  tekton.Interface
	// modelguard is the CLI image (the step image of every Task), by digest.
	modelguard string
	// apiPort is the apiserver's loopback port, for in-cluster config.
	apiPort string
	// chains is Tekton Chains, installed as a user would; it signs every
	// TaskRun's images here.
	chains *localcluster.Chains
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test here needs the node: none runs without it.
		fmt.Println("pods: skipped in -short mode (starts a control plane and a node)")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := localcluster.Start(ctx, localcluster.Config{Log: os.Stderr, Node: true})
	if err != nil {
		// The node must start: a machine where it cannot fails loudly.
		fmt.Fprintln(os.Stderr, "pods: start local cluster with a node:", err)
		return 1
	}
	defer c.Stop()
	u, err := url.Parse(c.Server)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pods:", err)
		return 1
	}
	env = &environment{
		cluster: c,
		kube:    kubernetes.NewForConfigOrDie(c.RESTConfig(localcluster.UserAdmin)),
		tekton:  tekton.NewForConfigOrDie(c.RESTConfig(localcluster.UserAdmin)),
		apiPort: u.Port(),
	}
	// For volumeClaimTemplate workspaces (the TriggerTemplate's, tkn's).
	if err := c.ProvisionVolumes(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pods:", err)
		return 1
	}
	if env.modelguard, err = buildModelguardImage(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "pods:", err)
		return 1
	}
	if err := env.installController(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pods:", err)
		return 1
	}
	if env.chains, err = c.InstallChains(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pods: install Tekton Chains:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "pods: cluster, node, modelguard image, controller and Chains ready in %s\n", time.Since(start).Round(time.Millisecond))
	code := m.Run()
	if code != 0 {
		c.WriteLogTails(os.Stderr, 20)
	}
	return code
}

// installController installs modelguard and runs the controller binary
// out of cluster as its ServiceAccount: the pipelines here use the custom
// tasks too. (Its own image and Deployment are the demo's business; the
// Tasks are what must run in pods.)
func (e *environment) installController(ctx context.Context) error {
	// No KServe stand-ins: model-deploy's target auto would take them for
	// KServe. TestKServe installs the real one for its run.
	_, err := e.cluster.InstallModelguard(ctx, localcluster.ModelguardOptions{NoKServeStandIns: true})
	return err
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
