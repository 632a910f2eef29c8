package pods

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// controllerPods returns the modelguard controller's pods.
func controllerPods(t *testing.T) []corev1.Pod {
	t.Helper()
	pods, err := env.kube.CoreV1().Pods(localcluster.ControllerNamespace).List(context.Background(),
		metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=modelguard-controller"})
	if err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

// checkInCluster: two Ready replicas of the released image, run under an
// arbitrary UID (assigned as restricted-v2 does, not the image's 65532)
// with a read-only root filesystem, their probes passing and never
// restarted; one holds the leader lease; and the metrics Service serves
// Prometheus metrics from every endpoint.
func checkInCluster(t *testing.T) {
	ctx := context.Background()
	dep := waitReady(t, 2*time.Minute)
	if dep.Status.ReadyReplicas != 2 || ptr.Deref(dep.Spec.Replicas, 0) != 2 {
		t.Errorf("Deployment: %d of %d replicas ready, want 2 of 2", dep.Status.ReadyReplicas, ptr.Deref(dep.Spec.Replicas, 0))
	}
	names := map[string]bool{}
	for _, p := range controllerPods(t) {
		names[p.Name] = true
		ctr := p.Spec.Containers[0]
		if ctr.Image != env.release.Images["controller"] {
			t.Errorf("pod %s runs %s, want the release's %s", p.Name, ctr.Image, env.release.Images["controller"])
		}
		if sc := p.Spec.SecurityContext; sc == nil || ptr.Deref(sc.RunAsUser, 0) != localcluster.EmulatedUID {
			t.Errorf("pod %s: securityContext %+v, want runAsUser %d assigned by the namespace", p.Name, sc, localcluster.EmulatedUID)
		}
		if sc := ctr.SecurityContext; sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) {
			t.Errorf("pod %s: container securityContext %+v", p.Name, sc)
		}
		if ctr.ReadinessProbe == nil || ctr.LivenessProbe == nil {
			t.Errorf("pod %s has no readiness or liveness probe", p.Name)
		}
		for _, s := range p.Status.ContainerStatuses {
			if !s.Ready || s.RestartCount > 0 {
				t.Errorf("pod %s: container %s ready=%v restarts=%d", p.Name, s.Name, s.Ready, s.RestartCount)
			}
		}
		if uid := processUID(t, p); uid != strconv.Itoa(localcluster.EmulatedUID) {
			t.Errorf("pod %s: the controller process runs as uid %q, want %d", p.Name, uid, localcluster.EmulatedUID)
		}
	}
	leases, err := env.kube.CoordinationV1().Leases(localcluster.ControllerNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, l := range leases.Items {
		if l.Spec.HolderIdentity == nil {
			continue
		}
		holder, _, _ := strings.Cut(*l.Spec.HolderIdentity, "_")
		if !names[holder] {
			t.Errorf("lease %s is held by %q, no pod of the controller", l.Name, *l.Spec.HolderIdentity)
		}
		held++
	}
	if held == 0 {
		t.Errorf("no leader lease held in %s (%d leases)", localcluster.ControllerNamespace, len(leases.Items))
	}
	for ep, body := range scrapeService(t) {
		if !strings.Contains(body, "# TYPE ") {
			t.Errorf("metrics of %s: no Prometheus text:\n%.300s", ep, body)
		}
	}
}

// waitReady waits, up to timeout, for the controller's Deployment to
// report every replica Ready and returns it. Readiness is a live state:
// the test before this one (make release) keeps both cores busy, and a
// kubelet whose probes time out, or a node whose heartbeat is late, marks
// pods unready for a while without anything being wrong with them. A
// restart is something else, and checkInCluster refuses it. On timeout it
// logs why each pod is unready, and the node's Ready condition.
func waitReady(t *testing.T, timeout time.Duration) *appsv1.Deployment {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for start := time.Now(); ; time.Sleep(time.Second) {
		dep, err := env.kube.AppsV1().Deployments(localcluster.ControllerNamespace).Get(ctx, "modelguard-controller", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := ptr.Deref(dep.Spec.Replicas, 0)
		if dep.Status.ReadyReplicas == want && dep.Status.UpdatedReplicas == want {
			if waited := time.Since(start); waited > 2*time.Second {
				t.Logf("the controller's %d replicas were Ready after %s", want, waited.Round(time.Second))
			}
			return dep
		}
		if time.Now().After(deadline) {
			for _, p := range controllerPods(t) {
				for _, c := range p.Status.Conditions {
					if c.Status != corev1.ConditionTrue {
						t.Logf("pod %s: %s=%s %s %s", p.Name, c.Type, c.Status, c.Reason, c.Message)
					}
				}
			}
			if nodes, err := env.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
				for _, n := range nodes.Items {
					for _, c := range n.Status.Conditions {
						if c.Type == corev1.NodeReady {
							t.Logf("node %s: Ready=%s %s (heartbeat %s)", n.Name, c.Status, c.Reason, c.LastHeartbeatTime.Format(time.RFC3339))
						}
					}
				}
			}
			return dep
		}
	}
}

// processUID reads the uid of the pod's controller process from the host
// (/proc/<pid>/status): what the kernel runs it as, whatever the spec says.
func processUID(t *testing.T, p corev1.Pod) string {
	t.Helper()
	procs, _ := os.ReadDir("/proc")
	for _, d := range procs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil || !strings.HasPrefix(string(cmdline), "/ko-app/controller\x00") {
			continue
		}
		environ, err := os.ReadFile("/proc/" + d.Name() + "/environ")
		if err != nil || !strings.Contains(string(environ), "POD_NAME="+p.Name+"\x00") {
			continue
		}
		status, err := os.ReadFile("/proc/" + d.Name() + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
				return f[1]
			}
		}
	}
	return ""
}

// scrapeService scrapes the metrics Service as Prometheus does: every
// endpoint its EndpointSlices list, on the metrics port, and once through
// the Service itself (the apiserver's service proxy). It returns each
// body by endpoint.
func scrapeService(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	const svc = "modelguard-controller-metrics"
	out := map[string]string{}
	body, err := env.kube.CoreV1().Services(localcluster.ControllerNamespace).ProxyGet("http", svc, "metrics", "/metrics", nil).DoRaw(ctx)
	if err != nil {
		t.Fatalf("metrics through Service %s: %v", svc, err)
	}
	out["service/"+svc] = string(body)
	slices, err := env.kube.DiscoveryV1().EndpointSlices(localcluster.ControllerNamespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, s := range slices.Items {
		port := 0
		for _, p := range s.Ports {
			if p.Name != nil && *p.Name == "metrics" && p.Port != nil {
				port = int(*p.Port)
			}
		}
		for _, ep := range s.Endpoints {
			for _, addr := range ep.Addresses {
				url := fmt.Sprintf("http://%s:%d/metrics", addr, port)
				resp, err := client.Get(url)
				if err != nil {
					t.Errorf("scrape %s: %v", url, err)
					continue
				}
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
				resp.Body.Close()
				out[url] = string(b)
			}
		}
	}
	if len(out) < 3 {
		t.Errorf("scraped %d endpoints of %s, want the Service and its 2 pods", len(out)-1, svc)
	}
	return out
}
