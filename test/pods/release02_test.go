package pods

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/modelguard/modelguard/test/gitserver"
	"github.com/modelguard/modelguard/test/localcluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// release02 sets up what pipelines/model-release/0.2 needs in a pipeline
// namespace, as its README lists: the Tasks, the Pipeline, the ACS Secret
// and Chains' public key (Secret chains-public-key) with the controller's
// reader bindings, model-deploy's RBAC and the watch's workload reader in
// the serving namespace (created here, handed to the pipeline namespace),
// and the emulated Sensor reporting what is deployed there.
// foreign are more RoleBindings the admin expects in the serving namespace.
func release02(t *testing.T, pipelines, serving string, central *acsemulator.Server, foreign ...string) {
	t.Helper()
	ctx := context.Background()
	// A cluster admin hands the serving namespace to the pipeline
	// namespace, lets the guard enforce baseline for KServe's modelcars,
	// and expects model-deploy's and the watch's RoleBindings there.
	createHandedOver(t, serving, pipelines, map[string]string{
		guard.AllowPodSecurityAnnotation: "baseline",
		guard.AllowForeignAnnotation:     strings.Join(append([]string{"RoleBinding/modelguard-model-deploy-task", "RoleBinding/modelguard-workload-reader"}, foreign...), ","),
	})
	acsSecretNamed(t, pipelines, "modelguard-acs", central, centralToken)
	bindACSReader(t, pipelines)
	bindController(t, pipelines, attest.ChainsKeyReader)
	bindController(t, serving, "modelguard-workload-reader")
	watchCtx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := central.WatchDeployments(watchCtx, env.kube, acsemulator.SensorOptions{Namespace: serving}); err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"model-fetch", "model-image-build", "model-deploy", "acs-image-scan", "acs-image-check", "verify-image", "acs-deployment-check", "acs-runtime-watch", "namespace-guard"} {
		applyTask(t, pipelines, task)
	}
	sampleRBAC(t, "model-deploy", map[string]string{"model-pipelines": pipelines, "model-serving": serving})
	file := filepath.Join(repoRoot(), "pipelines", "model-release", "0.2", "model-release.yaml")
	if out, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "apply", "-n", pipelines, "-f", file); err != nil {
		t.Fatalf("apply %s: %v\n%s", file, err, out)
	}
	pub := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: attest.ChainsKeySecret}, Data: map[string][]byte{"cosign.pub": env.chains.PublicKey}}
	if _, err := env.kube.CoreV1().Secrets(pipelines).Create(ctx, pub, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// modelRepo starts a git server with repository "tiny" holding
// testdata/tiny-model on main, and returns it and the commit.
func modelRepo(t *testing.T) (*gitserver.Server, string) {
	t.Helper()
	l, err := env.cluster.PodListener()
	if err != nil {
		t.Fatal(err)
	}
	gs, err := gitserver.StartOn(t.TempDir(), l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gs.Close() })
	if err := gs.Create("tiny"); err != nil {
		t.Fatal(err)
	}
	sha, err := gs.Commit("tiny", "main", "Add the tiny model", map[string]string{"README.md": "# tiny\n"}, map[string]string{"model": tinyModel()})
	if err != nil {
		t.Fatal(err)
	}
	return gs, sha
}

var (
	triggersOnce sync.Once
	triggers     *localcluster.Triggers
	triggersErr  error
)

// installTriggers installs Tekton Triggers once for the tests that need
// it; it keeps running until the cluster stops.
func installTriggers(t *testing.T) *localcluster.Triggers {
	t.Helper()
	triggersOnce.Do(func() {
		triggers, triggersErr = env.cluster.InstallTriggers(context.Background())
	})
	if triggersErr != nil {
		t.Fatalf("install Tekton Triggers: %v", triggersErr)
	}
	return triggers
}

// writeFile writes data to a file in a test's temp dir.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(fmt.Errorf("write %s: %w", name, err))
	}
	return p
}
