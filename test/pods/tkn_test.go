package pods

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/tools"
	"sigs.k8s.io/yaml"
)

// tknStart runs `tkn task start` the way the Task's README shows it, with
// the pod template every TaskRun here needs (see hostPods), and returns
// tkn's exit error and output (tkn streams the step's log).
func tknStart(t *testing.T, ns, task string, args ...string) (string, error) {
	t.Helper()
	return tkn(t, append([]string{"task", "start", task, "-n", ns, "--use-param-defaults", "--showlog"}, args...)...)
}

// tkn runs the real tkn with args, the cluster's admin kubeconfig and the
// pod template every TaskRun here needs (see hostPods; --pod-template is a
// flag of both task start and pipeline start), and returns its output.
func tkn(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tools, err := tools.EnsureTkn(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := yaml.Marshal(hostPods())
	if err != nil {
		t.Fatal(err)
	}
	ptFile := filepath.Join(t.TempDir(), "pod-template.yaml")
	if err := os.WriteFile(ptFile, pt, 0o644); err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string(nil), args...), "--kubeconfig", env.cluster.Kubeconfig(localcluster.UserAdmin), "--pod-template", ptFile)
	out, err := exec.CommandContext(ctx, tools.Tkn, argv...).CombinedOutput()
	return string(out), err
}

// The acs-image-scan README's tkn line, run with the real tkn v0.46.0:
// a clean image passes with the step's log streamed; a vulnerable one
// leaves a failed TaskRun whose log names the CVE.
func testACSImageScanWithTkn(t *testing.T, ns, secret string) {
	out, err := tknStart(t, ns, "acs-image-scan", "-p", "image="+cleanImage, "-p", "modelguard-image="+env.modelguard,
		"-w", "name=acs-secret,secret="+secret, "-w", "name=report,emptyDir=")
	if err != nil || !strings.Contains(out, "gate: PASS") {
		t.Fatalf("tkn task start acs-image-scan (clean): %v\n%s", err, out)
	}
	out, _ = tknStart(t, ns, "acs-image-scan", "-p", "image="+criticalImage, "-p", "modelguard-image="+env.modelguard,
		"-w", "name=acs-secret,secret="+secret, "-w", "name=report,emptyDir=")
	if !strings.Contains(out, "CVE-2025-32434") || !strings.Contains(out, "gate: FAIL") {
		t.Errorf("tkn task start acs-image-scan (critical): log lacks the CVE and the verdict:\n%s", out)
	}
}
