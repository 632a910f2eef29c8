package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Bad input ends each run at once with a reason and a message naming what
// was wrong, and a finished run is not reconciled again and again.
func TestBadInputFailsClearlyWithoutRequeueLoop(t *testing.T) {
	ns := namespace(t)
	big := strings.Repeat("x", 1<<20)
	cases := []struct{ name, spec, reason, message string }{
		{"no-params", `{customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}}`,
			"InvalidParams", `param "message": required but not given`},
		{"unknown-kind", `{customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Teleport}, params: [{name: message, value: a}]}`,
			"UnknownKind", `modelguard.dev/v1alpha1 has no kind "Teleport"`},
		{"wrong-types", `{customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}, params: [{name: message, value: {a: b}}, {name: tags, value: notalist}]}`,
			"InvalidParams", `param "message": must be of type string, got object; param "tags": must be of type array, got string`},
		{"bad-duration", `{customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}, params: [{name: message, value: a}, {name: sleep, value: soon}]}`,
			"InvalidParams", `param "sleep": must be a duration like 3s, got "soon"`},
		{"one-mib", `{customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}, params: [{name: message, value: ` + big + `}]}`,
			"InvalidParams", `param "message": value is 1048576 bytes; the limit is 65536`},
	}
	for _, tc := range cases {
		createCustomRun(t, ns, fmt.Sprintf("metadata: {name: %s}\nspec: %s", tc.name, tc.spec))
	}
	for _, tc := range cases {
		run := waitDone(t, ns, tc.name)
		c := condition(run)
		if !c.IsFalse() || c.Reason != tc.reason || !strings.Contains(c.Message, tc.message) {
			t.Errorf("%s: %s; want False/%s containing %q", tc.name, statusOf(run), tc.reason, tc.message)
		}
		if len(c.Message) > 4096 {
			t.Errorf("%s: condition message is %d bytes; the value was echoed back", tc.name, len(c.Message))
		}
	}

	// No hot requeue loop: over two seconds the finished runs are not
	// written again and the controller reconciles them at most a few times
	// (informer resyncs), not hundreds.
	before := snapshotVersions(t, ns)
	m1, err := env.controller.metrics()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	m2, err := env.controller.metrics()
	if err != nil {
		t.Fatal(err)
	}
	if after := snapshotVersions(t, ns); fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("finished runs were written again: %v -> %v", before, after)
	}
	for _, kind := range []string{"Echo", "Teleport"} {
		label := `kind="` + kind + `"`
		d := metricSum(m2, "modelguard_reconciles_total", label) - metricSum(m1, "modelguard_reconciles_total", label)
		if d > 5 {
			t.Errorf("%v reconciles of finished %s runs in 2s: a requeue loop", d, kind)
		}
	}
	if got := metricSum(m2, "modelguard_customruns_total", `outcome="invalid"`); got < float64(len(cases)) {
		t.Errorf("modelguard_customruns_total{outcome=invalid} = %v; want >= %d", got, len(cases))
	}
}

func snapshotVersions(t *testing.T, ns string) map[string]string {
	t.Helper()
	runs, err := env.tekton.TektonV1beta1().CustomRuns(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range runs.Items {
		out[r.Name] = r.ResourceVersion
	}
	return out
}

// The controller is killed (SIGKILL) while a run works; a new process picks
// the run up from its status and completes it exactly once.
func TestControllerKilledMidRunCompletesOnce(t *testing.T) {
	ns := namespace(t)
	createCustomRun(t, ns, `
metadata: {name: survivor}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: still-here}, {name: sleep, value: 3s}]`)
	waitCustomRun(t, ns, "survivor", 30*time.Second, "running", func(r *v1beta1.CustomRun) bool {
		return condition(r).Reason == "Running" && len(r.Status.ExtraFields.Raw) > 0
	})
	if err := env.controller.Kill(); err != nil {
		t.Fatalf("kill controller: %v", err)
	}
	replacement, err := startController(context.Background(), env.cluster, "modelguard-controller-2")
	if err != nil {
		t.Fatal(err)
	}
	env.controller = replacement

	run := waitDone(t, ns, "survivor")
	if !run.IsSuccessful() || result(run, "message") != "still-here" || len(run.Status.RetriesStatus) != 0 {
		t.Fatalf("after restart: %s; want success on the first attempt", statusOf(run))
	}
	if len(run.Status.ExtraFields.Raw) != 0 {
		t.Errorf("extraFields left on a finished run: %s", run.Status.ExtraFields.Raw)
	}
	time.Sleep(time.Second) // let any duplicate completion show up
	if n := eventCount(t, ns, "survivor", "Succeeded"); n != 1 {
		t.Fatalf("%d Succeeded events; want exactly 1", n)
	}
}

// Two replicas run at once; leader election lets one reconcile, and every
// run still completes exactly once.
func TestTwoReplicasCompleteEachRunOnce(t *testing.T) {
	ns := namespace(t)
	second, err := startController(context.Background(), env.cluster, "modelguard-controller-standby")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = second.Stop() }()
	const n = 20
	for i := 0; i < n; i++ {
		createCustomRun(t, ns, fmt.Sprintf(`
metadata: {name: ha-%d}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: m%d}]`, i, i))
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("ha-%d", i)
		run := waitDone(t, ns, name)
		if !run.IsSuccessful() || result(run, "message") != fmt.Sprintf("m%d", i) {
			t.Fatalf("%s: %s", name, statusOf(run))
		}
	}
	time.Sleep(time.Second)
	for i := 0; i < n; i++ {
		if c := eventCount(t, ns, fmt.Sprintf("ha-%d", i), "Succeeded"); c != 1 {
			t.Errorf("ha-%d: %d Succeeded events; want exactly 1", i, c)
		}
	}
	holders, err := leaseHolders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(holders) == 0 {
		t.Fatal("no leader-election lease is held")
	}
}
