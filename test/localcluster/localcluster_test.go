package localcluster

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestCluster starts the full control plane with Tekton and checks that it
// is real: RBAC denies, the token file's groups arrive, Tekton's CRDs are
// served and its controller leads, and Stop leaves nothing behind.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, kube-apiserver and Tekton (builds them on first run)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	c := ForTest(t, Config{})
	t.Logf("cluster up in %s at %s", time.Since(start).Round(time.Millisecond), c.Server)

	admin := clientFor(t, c, UserAdmin)
	nss, err := admin.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("admin lists namespaces: %v", err)
	}
	var names []string
	for _, ns := range nss.Items {
		names = append(names, ns.Name)
	}
	for _, want := range []string{"default", "kube-system", TektonNamespace} {
		if !slices.Contains(names, want) {
			t.Errorf("namespace %s missing; have %v", want, names)
		}
	}

	// alice has no binding: RBAC must refuse, not merely lack data.
	_, err = clientFor(t, c, UserAlice).CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("alice lists secrets: got %v, want 403 Forbidden", err)
	}
	// An unknown user must fail authentication, not act as anonymous.
	unknown, err := kubernetes.NewForConfig(c.RESTConfig("nobody"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unknown.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("unknown user: got %v, want 401 Unauthorized", err)
	}

	// The token file's groups reach the apiserver: via the API ...
	ssr, err := clientFor(t, c, UserAlice).AuthenticationV1().SelfSubjectReviews().
		Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("alice self subject review: %v", err)
	}
	if u := ssr.Status.UserInfo; u.Username != UserAlice || !slices.Contains(u.Groups, GroupDataScientists) {
		t.Errorf("alice is %q in %v; want alice in %s", u.Username, u.Groups, GroupDataScientists)
	}
	// ... and via kubectl with the written kubeconfig, for the controller
	// identity whose groups make ServiceAccount bindings apply.
	out, err := c.Kubectl(ctx, UserController, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); !strings.Contains(s, UserController) || !strings.Contains(s, "system:serviceaccounts:"+ControllerNamespace) {
		t.Errorf("controller whoami = %q", s)
	}

	out, err = c.Kubectl(ctx, UserAdmin, "get", "crd", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range []string{"pipelineruns.tekton.dev", "taskruns.tekton.dev", "customruns.tekton.dev"} {
		if !strings.Contains(string(out), "customresourcedefinition.apiextensions.k8s.io/"+crd) {
			t.Errorf("CRD %s missing in:\n%s", crd, out)
		}
	}
	leases, err := admin.CoordinationV1().Leases(TektonNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(leases.Items, func(l coordinationv1.Lease) bool {
		return strings.HasPrefix(l.Name, "tekton-pipelines-controller")
	}) {
		t.Errorf("no tekton-pipelines-controller lease among %d leases", len(leases.Items))
	}

	procs := c.Processes()
	if len(procs) != 3 {
		t.Errorf("got %d processes, want etcd, kube-apiserver, tekton-controller", len(procs))
	}
	for _, p := range procs {
		if rss, err := p.PeakRSS(); err != nil {
			t.Errorf("peak rss: %v", err)
		} else {
			t.Logf("%s: pid %d, peak RSS %d MiB", p.Name(), p.Pid(), rss>>20)
		}
	}

	stopStart := time.Now()
	c.Stop()
	t.Logf("stopped in %s", time.Since(stopStart).Round(time.Millisecond))
	c.Stop() // idempotent
	for _, p := range procs {
		if err := syscall.Kill(p.Pid(), 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after Stop (signal 0: %v)", p.Name(), p.Pid(), err)
		}
	}
	ports := append([]int{8080}, c.ports...)
	for _, port := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Errorf("port %d still in use after Stop: %v", port, err)
			continue
		}
		l.Close()
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) && os.Getenv("MODELGUARD_KEEP_CLUSTER") != "1" {
		t.Errorf("cluster dir %s not removed (stat: %v)", c.Dir, err)
	}
}

// TestDetachAttachStopDir covers the `make demo` path: a detached cluster
// recorded in its dir, used through Attach, stopped with StopDir.
func TestDetachAttachStopDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c, err := Start(ctx, Config{Dir: dir, Detach: true, NoTekton: true, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop) // in case the test fails before StopDir

	if _, err := Start(ctx, Config{Dir: dir, NoTekton: true}); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("second Start in a running cluster's dir: got %v, want 'still running'", err)
	}
	a, err := Attach(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clientFor(t, a, UserBob).CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bob via Attach lists pods: got %v, want 403", err)
	}
	if _, err := a.Kubectl(ctx, UserAdmin, "get", "ns", "default"); err != nil {
		t.Errorf("kubectl via Attach: %v", err)
	}
	if err := StopDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Processes() {
		// Detached children are still ours to reap; give the reaper a moment.
		for i := 0; i < 50 && !p.Exited(); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if !p.Exited() {
			t.Errorf("%s still running after StopDir", p.Name())
		}
	}
	if _, err := Attach(dir); err == nil {
		t.Error("Attach after StopDir succeeded")
	}
	if _, err := os.Stat(c.Kubeconfig(UserAdmin)); err != nil {
		t.Errorf("StopDir should keep the dir: %v", err)
	}
}

func clientFor(t *testing.T, c *Cluster, user string) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig(user))
	if err != nil {
		t.Fatalf("client for %s: %v", user, err)
	}
	return cs
}
