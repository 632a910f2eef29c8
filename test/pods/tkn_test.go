package pods

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/tools"
)

// tknStart runs `tkn task start` the way the Task's README shows it and
// returns tkn's exit error and output (tkn streams the step's log).
func tknStart(t *testing.T, ns, task string, args ...string) (string, error) {
	t.Helper()
	return tkn(t, append([]string{"task", "start", task, "-n", ns, "--use-param-defaults", "--showlog"}, args...)...)
}

// tkn runs the real tkn with args and the cluster's admin kubeconfig, and
// returns its output.
func tkn(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tools, err := tools.EnsureTkn(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string(nil), args...), "--kubeconfig", env.cluster.Kubeconfig(localcluster.UserAdmin))
	out, err := exec.CommandContext(ctx, tools.Tkn, argv...).CombinedOutput()
	return string(out), err
}

// The README's tkn lines, run with the real tkn v0.46.0: from the
// release's bundle (--image), a clean image passes with the step's log
// streamed; from the Task applied to the namespace, a vulnerable one
// leaves a failed TaskRun whose log names the CVE.
func testACSImageScanWithTkn(t *testing.T, ns, secret string) {
	out, err := tknStart(t, ns, "acs-image-scan", "--image", env.release.Bundles["tasks/acs-image-scan/0.1"], "-p", "image="+cleanImage,
		"-w", "name=acs-secret,secret="+secret, "-w", "name=report,emptyDir=")
	if err != nil || !strings.Contains(out, "gate: PASS") {
		t.Fatalf("tkn task start acs-image-scan (clean): %v\n%s", err, out)
	}
	out, _ = tknStart(t, ns, "acs-image-scan", "-p", "image="+criticalImage,
		"-w", "name=acs-secret,secret="+secret, "-w", "name=report,emptyDir=")
	if !strings.Contains(out, "CVE-2025-32434") || !strings.Contains(out, "gate: FAIL") {
		t.Errorf("tkn task start acs-image-scan (critical): log lacks the CVE and the verdict:\n%s", out)
	}
}
