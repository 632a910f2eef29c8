package pods

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
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
	// bundle fetches the Task from the release's bundle through Tekton's
	// bundles resolver instead of the namespace's copy.
	bundle bool
}

// ref is the TaskRun's taskRef: the Task applied to the namespace, or the
// release's bundle of it.
func (r taskRun) ref(task string) *pipelinev1.TaskRef {
	if !r.bundle {
		return &pipelinev1.TaskRef{Name: task}
	}
	return &pipelinev1.TaskRef{ResolverRef: pipelinev1.ResolverRef{Resolver: "bundles", Params: pipelinev1.Params{
		{Name: "bundle", Value: *pipelinev1.NewStructuredValues(env.release.Bundles["tasks/"+task+"/0.1"])},
		{Name: "name", Value: *pipelinev1.NewStructuredValues(task)},
		{Name: "kind", Value: *pipelinev1.NewStructuredValues("task")},
	}}}
}

// namespace makes a fresh namespace for one test, as a restricted cluster
// has them (Pod Security "restricted" enforced, UIDs assigned as
// restricted-v2 does: localcluster.RestrictedNamespace), and removes it
// after.
func namespace(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	if err := env.cluster.RestrictedNamespace(ctx, env.kube, name, nil); err != nil {
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

// servingNamespace makes a namespace for what a Task deploys: Pod Security
// "restricted" enforced, UIDs not assigned. model-deploy's Deployment
// names UID 65532 (its model image's files are root's), which OpenShift's
// restricted-v2 refuses outside the namespace's range.
func servingNamespace(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	if err := env.cluster.RestrictedNamespace(ctx, env.kube, name, map[string]string{localcluster.SCCLabel: "none"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

// applyTask installs the released tasks/<task>/0.1/<task>.yaml into ns,
// as a user applies it from the release (its step image defaults to the
// released CLI by digest).
func applyTask(t *testing.T, ns, task string) {
	t.Helper()
	file := env.release.file(filepath.Join("tasks", task, "0.1", task+".yaml"))
	if out, err := env.cluster.Kubectl(context.Background(), localcluster.UserAdmin, "apply", "-n", ns, "-f", file); err != nil {
		t.Fatalf("apply %s: %v\n%s", file, err, out)
	}
}

// run creates a TaskRun of task in ns, with no pod template (the pod
// network, the namespace's Pod Security, the Task's own defaults), and
// waits until it is done.
func (r taskRun) run(t *testing.T, ns, task string) *pipelinev1.TaskRun {
	t.Helper()
	ctx := context.Background()
	tr := &pipelinev1.TaskRun{
		ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: ns},
		Spec: pipelinev1.TaskRunSpec{
			TaskRef:            r.ref(task),
			Workspaces:         r.workspaces,
			ServiceAccountName: r.serviceAccount,
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
