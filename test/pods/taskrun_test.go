package pods

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/pod"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// taskRun is one run of a catalog Task, as a user would write it.
type taskRun struct {
	name           string
	params         map[string]string
	arrays         map[string][]string
	workspaces     []pipelinev1.WorkspaceBinding
	serviceAccount string
}

// namespace makes a fresh namespace for one test and removes it after.
func namespace(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := env.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	// The ServiceAccount controller makes "default" shortly after.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := env.kube.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return name
		}
		if time.Now().After(deadline) {
			t.Fatalf("no default ServiceAccount in %s", name)
		}
	}
}

// applyTask installs tasks/<task>/0.1/<task>.yaml into ns, unchanged.
func applyTask(t *testing.T, ns, task string) {
	t.Helper()
	file := filepath.Join(repoRoot(), "tasks", task, "0.1", task+".yaml")
	if out, err := env.cluster.Kubectl(context.Background(), localcluster.UserAdmin, "apply", "-n", ns, "-f", file); err != nil {
		t.Fatalf("apply %s: %v\n%s", file, err, out)
	}
}

// hostPods is the pod template of every TaskRun here: the host network,
// because the registry, the ACS emulator and the API server listen on
// loopback only, and the in-cluster API address pointed at the
// apiserver's port, because there is no kube-proxy to serve the
// "kubernetes" Service.
func hostPods() *pod.PodTemplate {
	return &pod.PodTemplate{HostNetwork: true, Env: []corev1.EnvVar{
		{Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"},
		{Name: "KUBERNETES_SERVICE_PORT", Value: env.apiPort},
	}}
}

// run creates a TaskRun of task in ns and waits until it is done. The
// modelguard-image param is the image built for this test run.
func (r taskRun) run(t *testing.T, ns, task string) *pipelinev1.TaskRun {
	t.Helper()
	ctx := context.Background()
	tr := &pipelinev1.TaskRun{
		ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: ns},
		Spec: pipelinev1.TaskRunSpec{
			TaskRef:            &pipelinev1.TaskRef{Name: task},
			Params:             pipelinev1.Params{{Name: "modelguard-image", Value: *pipelinev1.NewStructuredValues(env.modelguard)}},
			Workspaces:         r.workspaces,
			ServiceAccountName: r.serviceAccount,
			PodTemplate:        hostPods(),
			Timeout:            &metav1.Duration{Duration: 5 * time.Minute},
		},
	}
	for k, v := range r.params {
		tr.Spec.Params = append(tr.Spec.Params, pipelinev1.Param{Name: k, Value: *pipelinev1.NewStructuredValues(v)})
	}
	for k, v := range r.arrays {
		// Not NewStructuredValues: with one element it makes a string.
		tr.Spec.Params = append(tr.Spec.Params, pipelinev1.Param{Name: k, Value: pipelinev1.ParamValue{Type: pipelinev1.ParamTypeArray, ArrayVal: v}})
	}
	if _, err := env.tekton.TektonV1().TaskRuns(ns).Create(ctx, tr, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create TaskRun %s: %v", r.name, err)
	}
	return waitTaskRun(t, ns, r.name, 5*time.Minute)
}

func waitTaskRun(t *testing.T, ns, name string, timeout time.Duration) *pipelinev1.TaskRun {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tr, err := env.tekton.TektonV1().TaskRuns(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get TaskRun %s: %v", name, err)
		}
		if c := tr.Status.GetCondition(apis.ConditionSucceeded); c != nil && !c.IsUnknown() {
			return tr
		}
		if time.Now().After(deadline) {
			t.Fatalf("TaskRun %s/%s not done after %s: %+v\n%s", ns, name, timeout, tr.Status.Conditions, describePod(ns, tr.Status.PodName))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func describePod(ns, name string) string {
	if name == "" {
		return "(no pod)"
	}
	out, _ := env.cluster.Kubectl(context.Background(), localcluster.UserAdmin, "-n", ns, "describe", "pod", name)
	return string(out)
}

// logs is what `kubectl logs` shows of every step of the TaskRun's pod.
func logs(t *testing.T, tr *pipelinev1.TaskRun) string {
	t.Helper()
	out, err := env.cluster.Kubectl(context.Background(), localcluster.UserAdmin, "-n", tr.Namespace, "logs", tr.Status.PodName, "--all-containers")
	if err != nil {
		t.Fatalf("logs of %s: %v\n%s", tr.Status.PodName, err, out)
	}
	return string(out)
}

func result(tr *pipelinev1.TaskRun, name string) string {
	for _, r := range tr.Status.Results {
		if r.Name == name {
			return r.Value.StringVal
		}
	}
	return ""
}

// wantDone checks the TaskRun's outcome and that every result the Task
// declares was written, whether it passed or failed: a later task or a
// finally task must always find them.
func wantDone(t *testing.T, tr *pipelinev1.TaskRun, succeed bool, logWants ...string) string {
	t.Helper()
	c := tr.Status.GetCondition(apis.ConditionSucceeded)
	if tr.Status.PodName == "" {
		t.Fatalf("TaskRun %s made no pod: %s/%s %s", tr.Name, c.Status, c.Reason, c.Message)
	}
	log := logs(t, tr)
	if c.IsTrue() != succeed {
		t.Fatalf("TaskRun %s: %s/%s %s, want succeeded=%v\n--- log ---\n%s", tr.Name, c.Status, c.Reason, c.Message, succeed, log)
	}
	have := map[string]bool{}
	for _, r := range tr.Status.Results {
		have[r.Name] = true
	}
	if tr.Status.TaskSpec != nil {
		var missing []string
		for _, r := range tr.Status.TaskSpec.Results {
			if !have[r.Name] {
				missing = append(missing, r.Name)
			}
		}
		if len(missing) > 0 {
			t.Errorf("TaskRun %s (succeeded=%v) did not write results %v", tr.Name, succeed, missing)
		}
	}
	for _, w := range logWants {
		if !strings.Contains(log, w) {
			t.Errorf("TaskRun %s: log lacks %q:\n%s", tr.Name, w, log)
		}
	}
	return log
}

func secretWorkspace(name, secret string) pipelinev1.WorkspaceBinding {
	return pipelinev1.WorkspaceBinding{Name: name, Secret: &corev1.SecretVolumeSource{SecretName: secret}}
}

func configMapWorkspace(name, cm string) pipelinev1.WorkspaceBinding {
	return pipelinev1.WorkspaceBinding{Name: name, ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}
}

func emptyDirWorkspace(name string) pipelinev1.WorkspaceBinding {
	return pipelinev1.WorkspaceBinding{Name: name, EmptyDir: &corev1.EmptyDirVolumeSource{}}
}
