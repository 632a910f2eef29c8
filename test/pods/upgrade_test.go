package pods

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// nextVersion is the release TestRollingUpgrade rolls to.
const nextVersion = "v0.2.0"

// TestRollingUpgrade rolls the in-cluster controller from release
// v0.1.0 to v0.2.0 with `kubectl apply -f release.yaml` of the new one
// while ImageScan CustomRuns are in flight (the ACS emulator holds every
// scan for seconds, so the leader is mid-call when it is replaced), and
// wants each run to complete exactly once: Succeeded, with one Succeeded
// Event, served in the end by the new release's pods.
func TestRollingUpgrade(t *testing.T) {
	ctx := context.Background()
	next, err := makeRelease(ctx, env.cluster, nextVersion, "next")
	if err != nil {
		t.Fatal(err)
	}
	if digestOnly(next.Images["controller"]) == digestOnly(env.release.Images["controller"]) {
		t.Fatalf("release %s has the controller image of %s: nothing to roll", nextVersion, firstVersion)
	}
	central := startCentral(t)
	ns := namespace(t, "rolling-upgrade")
	acsSecretNamed(t, ns, "modelguard-acs", central, centralToken)
	bindACSReader(t, ns)
	// Longer than a rollout: the old leader is replaced mid-call.
	central.SetLatency(15 * time.Second)
	defer central.SetLatency(0)

	digest := cleanImage[strings.Index(cleanImage, "@"):]
	const runs = 6
	var names []string
	for i := range runs {
		cr := &v1beta1.CustomRun{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("scan-%d", i), Namespace: ns},
			Spec: v1beta1.CustomRunSpec{
				CustomRef: &v1beta1.TaskRef{APIVersion: "modelguard.dev/v1alpha1", Kind: "ImageScan"},
				// One repository per run: the gate caches a digest's scan
				// per repository and Secret, and each run must call Central.
				Params: v1beta1.Params{{Name: "image", Value: *v1beta1.NewStructuredValues(fmt.Sprintf("registry.upgrade.test/run-%d/sentiment%s", i, digest))}},
			},
		}
		if _, err := env.tekton.TektonV1beta1().CustomRuns(ns).Create(ctx, cr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		names = append(names, cr.Name)
	}
	// In flight: every run started (Running) and Central is being asked.
	waitRuns(t, ns, names, time.Minute, func(c *apis.Condition) bool { return c != nil && c.IsUnknown() && c.Reason == "Running" })
	if central.Calls("/v1/images/scan") == 0 {
		t.Fatal("no scan reached Central before the upgrade")
	}
	start := time.Now()
	if out, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "apply", "-f", next.file("release.yaml")); err != nil {
		t.Fatalf("apply %s release.yaml: %v\n%s", nextVersion, err, out)
	}
	if err := env.cluster.WaitControllerRollout(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("rolled out %s in %s", nextVersion, time.Since(start).Round(time.Millisecond))
	done := waitRuns(t, ns, names, 3*time.Minute, func(c *apis.Condition) bool { return c != nil && !c.IsUnknown() })
	for _, cr := range done {
		if c := cr.Status.GetCondition(apis.ConditionSucceeded); !c.IsTrue() {
			t.Errorf("%s: %s %s", cr.Name, c.Reason, c.Message)
		}
		if n := succeededEvents(t, ns, cr); n != 1 {
			t.Errorf("%s: %d Succeeded Events, want exactly 1", cr.Name, n)
		}
	}
	pods, err := env.kube.CoreV1().Pods(localcluster.ControllerNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=modelguard-controller"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image != next.Images["controller"] {
			t.Errorf("pod %s runs %s after the upgrade, want %s", p.Name, p.Spec.Containers[0].Image, next.Images["controller"])
		}
	}
	env.release, env.modelguard = next, next.cli()

	// The new pods count the runs they finished, scraped as Prometheus
	// scrapes the metrics Service: every endpoint.
	finished := 0.0
	for ep, body := range scrapeService(t) {
		if !strings.HasPrefix(ep, "service/") {
			finished += metricSum(body, "modelguard_customruns_total", `kind="ImageScan"`)
		}
	}
	t.Logf("modelguard_customruns_total{kind=ImageScan} over the new release's endpoints: %v", finished)
	if finished < 1 {
		t.Error("the new release's pods report no finished ImageScan run")
	}
}

// metricSum sums the samples of metric whose labels contain label.
func metricSum(body, metric, label string) float64 {
	sum := 0.0
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, metric+"{") || !strings.Contains(l, label) {
			continue
		}
		f := strings.Fields(l)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// waitRuns waits until cond holds for every named CustomRun and returns
// them.
func waitRuns(t *testing.T, ns string, names []string, timeout time.Duration, cond func(*apis.Condition) bool) []v1beta1.CustomRun {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var got []v1beta1.CustomRun
		var waiting []string
		for _, n := range names {
			cr, err := env.tekton.TektonV1beta1().CustomRuns(ns).Get(context.Background(), n, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if c := cr.Status.GetCondition(apis.ConditionSucceeded); !cond(c) {
				waiting = append(waiting, fmt.Sprintf("%s: %v", n, c))
			}
			got = append(got, *cr)
		}
		if len(waiting) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, strings.Join(waiting, "; "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// succeededEvents counts the Succeeded Events about cr, repeats (an
// Event's count) included: the controller that finishes a run announces
// it, and only one may finish it.
func succeededEvents(t *testing.T, ns string, cr v1beta1.CustomRun) int {
	t.Helper()
	evs, err := env.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.uid=" + string(cr.UID) + ",reason=Succeeded"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs.Items {
		n += eventCount(e)
	}
	return n
}

func eventCount(e corev1.Event) int {
	if e.Series != nil && int(e.Series.Count) > int(e.Count) {
		return int(e.Series.Count)
	}
	return max(int(e.Count), 1)
}
