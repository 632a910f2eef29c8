// Package pods runs modelguard as users' clusters run it, on a local node
// (kubelet + containerd) with the real Tekton controller:
//   - a release made with `make release` into the node's registry
//     (images for linux/amd64 and linux/arm64, bundles, release.yaml);
//   - the controller installed from that release.yaml, in cluster: two
//     replicas, leader election, an arbitrary UID assigned as OpenShift's
//     restricted-v2 assigns one (localcluster.EmulateRestrictedV2);
//   - every catalog Task run in pods on the pod network, in namespaces that
//     enforce Pod Security "restricted", with Tekton's feature flags set as
//     a restricted cluster needs (RestrictedFeatureFlags);
//   - Tekton's resolvers, for Tasks fetched by bundle and the Pipeline by
//     git from a git server holding this repository at a commit;
//   - Tekton Chains signing what the Tasks build.
//
// A Task whose YAML parses but whose step fails on a node fails here, not
// on a user's cluster. Pods reach the apiserver through the "kubernetes"
// Service and the registry and the ACS emulator on the node's bridge (see
// test/localcluster's forward.go); nothing listens beyond this machine.
package pods

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
)

// RestrictedFeatureFlags are the Tekton feature flags a cluster that
// enforces Pod Security "restricted" needs (the README says so too):
// Tekton v1.15 injects its init containers (prepare, place-scripts,
// working-dir-initializer) and the affinity assistant without a
// securityContext unless set-security-context is on (v1.16 turns it on by
// default), and "restricted" refuses such a pod.
var RestrictedFeatureFlags = map[string]string{"set-security-context": "true"}

// firstVersion is the release installed first; TestRollingUpgrade rolls
// to the next.
const firstVersion = "v0.1.0"

var env *environment

type environment struct {
	cluster *localcluster.Cluster
	kube    kubernetes.Interface
	tekton  tekton.Interface
	// release is what `make release` pushed into the node's registry.
	release *release
	// modelguard is the released CLI image (the step image of every
	// Task), by digest.
	modelguard string
	// chains is Tekton Chains, installed as a user would; it signs every
	// TaskRun's images here.
	chains *localcluster.Chains
	// git serves this repository at a commit, for the git resolver.
	git *localcluster.GitServer
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
	c, err := localcluster.Start(ctx, localcluster.Config{Log: os.Stderr, Node: true, TektonFeatureFlags: RestrictedFeatureFlags})
	if err != nil {
		// The node must start: a machine where it cannot fails loudly.
		fmt.Fprintln(os.Stderr, "pods: start local cluster with a node:", err)
		return 1
	}
	defer c.Stop()
	env = &environment{
		cluster: c,
		kube:    kubernetes.NewForConfigOrDie(c.RESTConfig(localcluster.UserAdmin)),
		tekton:  tekton.NewForConfigOrDie(c.RESTConfig(localcluster.UserAdmin)),
	}
	for _, s := range []struct {
		what string
		do   func(context.Context) error
	}{
		{"restricted-v2 emulation", c.EmulateRestrictedV2},
		{"release " + firstVersion + " (make release)", env.makeFirstRelease},
		{"controller from release.yaml", env.installController},
		{"resolvers", func(ctx context.Context) error { _, err := c.InstallResolvers(ctx); return err }},
		{"git server", env.serveRepo},
		{"Tekton Chains", func(ctx context.Context) (err error) { env.chains, err = c.InstallChains(ctx); return err }},
		// For volumeClaimTemplate workspaces (the TriggerTemplate's, tkn's).
		{"volume provisioner", c.ProvisionVolumes},
	} {
		t0 := time.Now()
		if err := s.do(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "pods: %s: %v\n", s.what, err)
			dumpLogs(c)
			return 1
		}
		fmt.Fprintf(os.Stderr, "pods: %s ready in %s\n", s.what, time.Since(t0).Round(time.Millisecond))
	}
	fmt.Fprintf(os.Stderr, "pods: cluster, node, release, controller, resolvers and Chains ready in %s\n", time.Since(start).Round(time.Millisecond))
	code := m.Run()
	if code != 0 {
		dumpLogs(c)
	}
	return code
}

// installController installs modelguard from the release's release.yaml,
// as the README says, into a namespace that assigns UIDs as
// restricted-v2 does: the pipelines' gates are served by it.
func (e *environment) installController(ctx context.Context) error {
	if err := e.cluster.RestrictedNamespace(ctx, e.kube, localcluster.ControllerNamespace, nil); err != nil {
		return err
	}
	return e.cluster.InstallModelguardRelease(ctx, e.release.file("release.yaml"))
}

// dumpLogs writes what the processes and the controller's pods last said.
func dumpLogs(c *localcluster.Cluster) {
	c.WriteLogTails(os.Stderr, 20)
	out, _ := c.Kubectl(context.Background(), localcluster.UserAdmin, "-n", localcluster.ControllerNamespace, "logs",
		"-l", "app.kubernetes.io/name=modelguard-controller", "--tail=40", "--prefix")
	fmt.Fprintf(os.Stderr, "--- modelguard controller pods ---\n%s\n", out)
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
