package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/tools"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// TestNode runs real pods: a plain Pod and a one-step Tekton TaskRun whose
// result is read back, on images from the node's own registry. A node that
// cannot start fails the test: it never skips (except in -short mode, the
// unit-test loop).
func TestNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and a node (containerd, kubelet)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Another run's leftovers are not this cluster's to answer for.
	cgroupsBefore := containerCgroups()
	start := time.Now()
	c := ForTest(t, Config{Node: true})
	t.Logf("cluster with node up in %s; registry %s", time.Since(start).Round(time.Millisecond), c.Registry)
	for _, ref := range []string{c.Images.Busybox, c.Images.Pause, c.Images.Entrypoint, c.Images.Nop,
		c.Images.WorkingDirInit, c.Images.SidecarLogResults} {
		if !strings.HasPrefix(ref, c.Registry+"/") || !strings.Contains(ref, "@sha256:") {
			t.Errorf("image %q is not by digest in %s", ref, c.Registry)
		}
	}
	admin := clientFor(t, c, UserAdmin)

	// (a) A plain pod reaches Running and its log is served via the kubelet.
	podStart := time.Now()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "main", Image: c.Images.Busybox,
				Command: []string{"sh", "-c", "echo hello-from-the-node; exec sleep 3600"},
			}},
			TerminationGracePeriodSeconds: new(int64),
		},
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	waitPodRunning(ctx, t, c, "default", "hello")
	t.Logf("pod create → Running: %s", time.Since(podStart).Round(time.Millisecond))
	waitLogs(ctx, t, c, "default", "hello", "main", "hello-from-the-node")

	// (b) A one-step TaskRun succeeds and returns its result.
	trStart := time.Now()
	tr := runTaskRun(ctx, t, c, "default", "greet")
	t.Logf("taskrun create → Succeeded: %s", time.Since(trStart).Round(time.Millisecond))
	if got := taskRunResult(tr, "greeting"); got != "hello from a real pod" {
		t.Errorf("result greeting = %q, want %q (results %+v)", got, "hello from a real pod", tr.Status.Results)
	}
	waitLogs(ctx, t, c, "default", tr.Status.PodName, "step-greet", "step-says-hi")

	// (c) An image of our own, built with ko onto the busybox base, runs.
	koStart := time.Now()
	root := tools.RepoRoot()
	if root == "" {
		t.Fatal("no checkout of github.com/modelguard/modelguard around the working dir")
	}
	ref, err := c.KoBuild(ctx, root, "./test/localcluster/testdata/hello")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ko build %s: %s", ref, time.Since(koStart).Round(time.Millisecond))
	job := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ko-hello", Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: ref}},
		},
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	waitLogs(ctx, t, c, "default", "ko-hello", "main", "hello-from-ko")

	// (d) A pod on the pod network, in a namespace enforcing Pod Security
	// "restricted", reaches the apiserver through the kubelet's in-cluster
	// environment and the registry by its one name.
	checkPodNetwork(ctx, t, c)

	// Stop leaves no process, shim or mount behind.
	procs := c.Processes()
	stopStart := time.Now()
	c.Stop()
	t.Logf("stopped in %s", time.Since(stopStart).Round(time.Millisecond))
	for _, p := range procs {
		if err := syscall.Kill(p.Pid(), 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after Stop", p.Name(), p.Pid())
		}
	}
	if pids := shimPids(nodePathsIn(c.Dir).containerdSock); len(pids) > 0 {
		t.Errorf("containerd shims still running after Stop: %v", pids)
	}
	if mounts, err := MountsUnder(c.Dir); err != nil || len(mounts) > 0 {
		t.Errorf("mounts under %s after Stop: %v (%v)", c.Dir, mounts, err)
	}
	var left []string
	for _, cg := range containerCgroups() {
		if !slices.Contains(cgroupsBefore, cg) {
			left = append(left, cg)
		}
	}
	if len(left) > 0 {
		t.Errorf("container cgroups left after Stop: %v", left)
	}
	if links, _ := filepath.Glob("/var/log/containers/*"); len(links) > 0 {
		for _, l := range links {
			if target, _ := os.Readlink(l); strings.HasPrefix(target, c.Dir+"/") {
				t.Errorf("kubelet log symlink %s -> %s left after Stop", l, target)
			}
		}
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) && os.Getenv("MODELGUARD_KEEP_CLUSTER") != "1" {
		t.Errorf("cluster dir %s not removed (stat: %v)", c.Dir, err)
	}
}

// containerCgroups lists the container cgroups (directories) under
// containerd's k8s.io namespace, in any hierarchy.
func containerCgroups() []string {
	var dirs []string
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/k8s.io/*")
	unified, _ := filepath.Glob("/sys/fs/cgroup/k8s.io/*")
	for _, p := range append(matches, unified...) {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			dirs = append(dirs, p)
		}
	}
	return dirs
}

func checkPodNetwork(ctx context.Context, t *testing.T, c *Cluster) {
	t.Helper()
	admin := clientFor(t, c, UserAdmin)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "restricted", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted"}}}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	host := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "host", Namespace: "restricted"},
		Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "main", Image: c.Images.Busybox}}}}
	if _, err := admin.CoreV1().Pods("restricted").Create(ctx, host, metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Errorf("a host-network pod in a restricted namespace: %v, want refused by Pod Security", err)
	}
	script := `set -e
echo "api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"
nc -w 5 "$KUBERNETES_SERVICE_HOST" "$KUBERNETES_SERVICE_PORT" </dev/null && echo api-reachable
wget -q -O - "http://$REGISTRY/v2/" >/dev/null && echo registry-reachable`
	uid := int64(1000650000)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "net", Namespace: "restricted"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: new(true), RunAsUser: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "main", Image: c.Images.Busybox, Command: []string{"sh", "-c", script},
				Env: []corev1.EnvVar{{Name: "REGISTRY", Value: c.Registry}},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: new(false),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
	}
	if _, err := admin.CoreV1().Pods("restricted").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	waitLogs(ctx, t, c, "restricted", "net", "main", "registry-reachable")
	out, _ := c.Kubectl(ctx, UserAdmin, "-n", "restricted", "logs", "net")
	if !strings.Contains(string(out), "api="+kubernetesServiceIP+":443") || !strings.Contains(string(out), "api-reachable") {
		t.Errorf("pod network: %s", out)
	}
}

// TestBenchTaskRun measures a one-step pod-based TaskRun from create to
// Succeeded on a warm node (images pulled by the first run). It prints
// figures and asserts no timings.
func TestBenchTaskRun(t *testing.T) {
	if os.Getenv("MODELGUARD_BENCH") != "1" {
		t.Skip("set MODELGUARD_BENCH=1 (make bench)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	c := ForTest(t, Config{Node: true})
	fmt.Printf("bench: cluster with node up in %.1fs\n", time.Since(start).Seconds())

	first := time.Now()
	runTaskRun(ctx, t, c, "default", "warmup")
	fmt.Printf("bench: first one-step TaskRun (pulls images) create→Succeeded %.2fs\n", time.Since(first).Seconds())
	const n = 7
	var took []time.Duration
	for i := range n {
		s := time.Now()
		runTaskRun(ctx, t, c, "default", fmt.Sprintf("bench-%d", i))
		took = append(took, time.Since(s))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	fmt.Printf("bench: one-step pod TaskRun create→Succeeded n=%d min %.2fs p50 %.2fs max %.2fs\n",
		n, took[0].Seconds(), took[n/2].Seconds(), took[n-1].Seconds())
}

// runTaskRun creates a one-step TaskRun (busybox by digest, a script that
// writes a result and a log line) and waits for it to succeed.
func runTaskRun(ctx context.Context, t *testing.T, c *Cluster, ns, name string) *pipelinev1.TaskRun {
	t.Helper()
	tc, err := tekton.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		t.Fatal(err)
	}
	tr := &pipelinev1.TaskRun{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: pipelinev1.TaskRunSpec{TaskSpec: &pipelinev1.TaskSpec{
			Results: []pipelinev1.TaskResult{{Name: "greeting", Type: pipelinev1.ResultsTypeString}},
			Steps: []pipelinev1.Step{{
				Name:   "greet",
				Image:  c.Images.Busybox,
				Script: "#!/bin/sh\nset -e\necho step-says-hi\nprintf 'hello from a real pod' > $(results.greeting.path)\n",
			}},
		}},
	}
	if _, err := tc.TektonV1().TaskRuns(ns).Create(ctx, tr, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create taskrun %s: %v", name, err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got, err := tc.TektonV1().TaskRuns(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get taskrun %s: %v", name, err)
		}
		if cond := got.Status.GetCondition(apis.ConditionSucceeded); cond != nil && !cond.IsUnknown() {
			if !cond.IsTrue() {
				out, _ := c.Kubectl(ctx, UserAdmin, "-n", ns, "describe", "pod", got.Status.PodName)
				t.Fatalf("taskrun %s failed: %s: %s\n%s", name, cond.Reason, cond.Message, out)
			}
			return got
		}
		if time.Now().After(deadline) {
			out, _ := c.Kubectl(ctx, UserAdmin, "-n", ns, "describe", "pod", got.Status.PodName)
			t.Fatalf("taskrun %s not done after 3m: %+v\n%s", name, got.Status.Conditions, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func taskRunResult(tr *pipelinev1.TaskRun, name string) string {
	for _, r := range tr.Status.Results {
		if r.Name == name {
			return r.Value.StringVal
		}
	}
	return ""
}

func waitPodRunning(ctx context.Context, t *testing.T, c *Cluster, ns, name string) {
	t.Helper()
	admin := clientFor(t, c, UserAdmin)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p, err := admin.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get pod %s: %v", name, err)
		}
		if p.Status.Phase == corev1.PodRunning {
			return
		}
		if p.Status.Phase == corev1.PodFailed || time.Now().After(deadline) {
			out, _ := c.Kubectl(ctx, UserAdmin, "-n", ns, "describe", "pod", name)
			t.Fatalf("pod %s is %s, not Running:\n%s", name, p.Status.Phase, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLogs polls `kubectl logs` (apiserver → kubelet → containerd) until
// the container's log holds want.
func waitLogs(ctx context.Context, t *testing.T, c *Cluster, ns, pod, container, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.Kubectl(ctx, UserAdmin, "-n", ns, "logs", pod, "-c", container)
		if err == nil && slices.Contains(strings.Split(string(out), "\n"), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl logs %s -c %s: want a line %q, got %q (err %v)", pod, container, want, out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
