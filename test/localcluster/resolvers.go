package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelguard/modelguard/test/tools"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ResolversNamespace is where Tekton's release installs the resolvers.
const ResolversNamespace = "tekton-pipelines-resolvers"

// InstallResolvers runs Tekton's own remote resolution (the resolvers
// binary of the cluster's Tekton version: git, bundles, cluster, hub and
// http) as Tekton's release does, but out of cluster:
//   - every manifest of the pipeline module's config/resolvers but the
//     Deployment and its Service: namespace, ServiceAccount, RBAC and the
//     ConfigMaps (resolvers-feature-flags, bundleresolver-config,
//     git-resolver-config, ...);
//   - the binary with the Deployment's environment, as its ServiceAccount
//     (UserResolvers), in a network namespace on the node's bridge
//     (StartInNetns): it reaches the apiserver, the registry and test
//     servers as a pod would, and its fixed probe port 8080 is its own;
//   - the host's git on PATH, for the git resolver's clones, with its own
//     HOME and no system config, so nothing of this machine's git
//     configuration applies.
//
// It waits until the resolvers hold their leader-election leases. It
// needs a node (Config.Node).
func (c *Cluster) InstallResolvers(ctx context.Context) (*Process, error) {
	if !c.node {
		return nil, fmt.Errorf("install resolvers: the cluster has no node (Config.Node)")
	}
	start := time.Now()
	t, err := tools.EnsureWith(ctx, c.log, tools.Options{Node: true, Resolvers: true, TektonVersion: c.Tools.TektonVersion})
	if err != nil {
		return nil, fmt.Errorf("install resolvers: %w", err)
	}
	cfgDir, err := tektonConfigDir(ctx, c.Tools.TektonVersion)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(cfgDir, "resolvers", "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("install resolvers: no manifests in %s/resolvers", cfgDir)
	}
	args := []string{"apply", "--server-side"}
	for _, f := range files {
		if b := filepath.Base(f); b != "resolvers-deployment.yaml" && b != "resolvers-service.yaml" {
			args = append(args, "-f", f)
		}
	}
	if _, err := c.Kubectl(ctx, UserAdmin, args...); err != nil {
		return nil, fmt.Errorf("install resolvers: %w", err)
	}
	kubeconfig, err := c.InClusterKubeconfig(UserResolvers)
	if err != nil {
		return nil, err
	}
	home := filepath.Join(c.Dir, "resolvers-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("install resolvers: %w", err)
	}
	p, err := c.StartInNetns("resolvers", []string{t.TektonResolvers, "-kubeconfig", kubeconfig}, []string{
		"SYSTEM_NAMESPACE=" + ResolversNamespace,
		"KUBERNETES_MIN_VERSION=v1.28.0",
		"CONFIG_LOGGING_NAME=config-logging",
		"CONFIG_OBSERVABILITY_NAME=config-observability",
		"CONFIG_FEATURE_FLAGS_NAME=feature-flags",
		"CONFIG_LEADERELECTION_NAME=config-leader-election-resolvers",
		"METRICS_DOMAIN=tekton.dev/resolution",
		"PROBES_PORT=8080",
		"TEKTON_HUB_API=",
		"ARTIFACT_HUB_API=https://artifacthub.io/",
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"TMPDIR=" + home,
	})
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	err = waitFor(ctx, readyTimeout, func() (bool, string, error) {
		if p.Exited() {
			return false, "", fmt.Errorf("resolvers exited; log tail:\n%s", logTail(p.LogPath(), 30))
		}
		leases, err := client.CoordinationV1().Leases(ResolversNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		var held []string
		for _, l := range leases.Items {
			if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
				held = append(held, l.Name)
			}
		}
		// One lease per resolver's reconciler; bundles and git are the
		// ones used here.
		all := strings.ToLower(strings.Join(held, " "))
		return strings.Contains(all, "bundle") && strings.Contains(all, "git"), fmt.Sprintf("leases held: %v", held), nil
	})
	if err != nil {
		return nil, fmt.Errorf("resolvers not running: %w; log tail:\n%s", err, logTail(p.LogPath(), 30))
	}
	fmt.Fprintf(c.log, "localcluster: tekton %s resolvers running (%.1fs)\n", c.Tools.TektonVersion, time.Since(start).Seconds())
	return p, nil
}
