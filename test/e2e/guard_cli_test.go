package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/cli"
	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func modelguard(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = cli.Execute(args, &out, &errb)
	return code, out.String(), errb.String()
}

// The CLI door: the same engine with the caller's own credentials, exit
// codes that tell "policy said no" (2) from "could not run" (1), and
// Tekton result files.
func TestGuardCLI(t *testing.T) {
	ns := targetNamespace(t, "cli", handOver{profile: guard.Staging, limits: with(map[string]string{
		guard.AllowIngressAnnotation: "openshift-router,namespace:api-gateway",
		guard.MaxQuotaAnnotation:     "gpu=4",
	})})
	admin := env.cluster.Kubeconfig(localcluster.UserAdmin)
	results := t.TempDir()
	flags := []string{"--kubeconfig", admin, "--namespace", ns, "--profile", "staging",
		"--data-scientist-group", localcluster.GroupDataScientists, "--ml-engineer-group", localcluster.GroupMLEngineers,
		"--operator-group", localcluster.GroupOperators, "--ingress", "openshift-router,namespace:api-gateway", "--quota", "gpu=4"}

	code, out, errOut := modelguard(append([]string{"guard", "apply", "--results-dir", results}, flags...)...)
	if code != cli.ExitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "created   NetworkPolicy/modelguard-allow-from-ns-api-gateway") || !strings.Contains(out, "access matrix") {
		t.Fatalf("apply output:\n%s", out)
	}
	for _, name := range []string{"created", "changed", "unchanged", "deleted", "foreign", "summary", "access-matrix"} {
		if _, err := os.Stat(filepath.Join(results, name)); err != nil {
			t.Errorf("result file %s not written: %v", name, err)
		}
	}

	code, out, _ = modelguard(append([]string{"guard", "verify", "-o", "json"}, flags...)...)
	var report guard.Report
	if err := json.Unmarshal([]byte(out), &report); err != nil || code != cli.ExitOK {
		t.Fatalf("verify: exit %d, %v\n%s", code, err, out)
	}
	if len(report.Checks) == 0 || len(guard.Mismatches(report.Checks)) != 0 || len(report.Refs(guard.Unchanged)) != len(report.Changes) {
		t.Fatalf("verify report: %+v", report)
	}

	// A hand edit: diff shows it, verify exits 2 (policy said no).
	patch := []byte(`{"spec":{"hard":{"requests.nvidia.com/gpu":"64"}}}`)
	if _, err := env.kube.CoreV1().ResourceQuotas(ns).Patch(context.Background(), "modelguard-quota", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = modelguard(append([]string{"guard", "diff"}, flags...)...)
	if code != cli.ExitOK || !strings.Contains(out, "changed   ResourceQuota/modelguard-quota") || !strings.Contains(out, `"64"`) {
		t.Fatalf("diff after a hand edit: exit %d\n%s", code, out)
	}
	code, _, errOut = modelguard(append([]string{"guard", "verify"}, flags...)...)
	if code != cli.ExitDenied || !strings.Contains(errOut, "Drift") {
		t.Fatalf("verify after a hand edit: exit %d, stderr %q; want 2 and Drift", code, errOut)
	}

	// Someone without rights cannot run it: exit 1, and the error says why.
	daveFlags := append([]string{"guard", "apply"}, flags...)
	daveFlags[3] = env.cluster.Kubeconfig(localcluster.UserDave)
	code, _, errOut = modelguard(daveFlags...)
	if code != cli.ExitError || !strings.Contains(errOut, "forbidden") {
		t.Fatalf("dave: exit %d, stderr %q; want 1 and forbidden", code, errOut)
	}

	// The CLI door is held to the same limits, even for a cluster admin:
	// they are changed on the namespace, not on the command line. A
	// refusal is a policy's no (exit 2), naming the flag and the limit,
	// with every result written.
	refused := t.TempDir()
	code, _, errOut = modelguard("guard", "apply", "--kubeconfig", admin, "--namespace", ns, "--results-dir", refused,
		"--pod-security", "privileged", "--egress", "169.254.169.254/32", "--operator-user", "mallory")
	for _, want := range []string{"LimitExceeded", `--pod-security: "privileged" is below restricted`, `--egress: "169.254.169.254/32"`,
		`--operator-user: "mallory" is not among the operator users`, guard.AllowSubjectsAnnotation(guard.Operator)} {
		if code != cli.ExitDenied || !strings.Contains(errOut, want) {
			t.Errorf("over the limits: exit %d, stderr %q; want 2 and %q", code, errOut, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(refused, "summary")); err != nil || !strings.Contains(string(b), "LimitExceeded") {
		t.Errorf("summary result after a refusal: %q (%v)", b, err)
	}

	// Bad flags name the flag.
	code, _, errOut = modelguard("guard", "apply", "--kubeconfig", admin, "--namespace", ns, "--quota", "gpu=lots", "--ingress", "everywhere")
	if code != cli.ExitError || !strings.Contains(errOut, `--quota gpu: "lots" is not a non-negative quantity`) || !strings.Contains(errOut, `--ingress "everywhere"`) {
		t.Fatalf("bad flags: exit %d, stderr %q", code, errOut)
	}
}
