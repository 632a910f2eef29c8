package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	tektoninformers "github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// podTaskRunReference is what a trivial one-step pod-based TaskRun took
// from create to Succeeded on this kind of machine (kubelet + containerd,
// images already pulled): 4.3-5.0 s. It is a reference figure until the
// pods issue brings a kubelet into the local cluster and the same run
// measures it.
const podTaskRunReference = 4300 * time.Millisecond

// TestBench prints the controller's figures; it asserts nothing about
// time. `make bench` runs it with MODELGUARD_BENCH=1 on a fresh cluster.
func TestBench(t *testing.T) {
	if os.Getenv("MODELGUARD_BENCH") == "" {
		t.Skip("set MODELGUARD_BENCH=1 (make bench) to run the benchmark")
	}
	ns := namespace(t)
	w := newCompletionWatch(t, ns)
	defer w.stop()

	// Warm up informers and connections so the first sample is not special.
	for i := 0; i < 5; i++ {
		w.createAndWait(t, fmt.Sprintf("warm-%d", i))
	}

	const sequential = 200
	lat := make([]time.Duration, 0, sequential)
	for i := 0; i < sequential; i++ {
		lat = append(lat, w.createAndWait(t, fmt.Sprintf("seq-%d", i)))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	report("CustomRun create -> Succeeded latency over %d sequential runs: p50=%s p99=%s max=%s (target p50 <= 100ms: %s)",
		sequential, ms(p50), ms(p99), ms(lat[len(lat)-1]), verdict(p50 <= 100*time.Millisecond))

	benchScale(t)
	benchNamespaceGuard(t, ns, w)
	benchImageScan(t)
	benchRuntimeWatch(t)

	rss, err := env.controller.PeakRSS()
	if err != nil {
		t.Fatalf("peak RSS: %v", err)
	}
	report("controller peak RSS (VmHWM) after every run above: %.1f MiB (target <= 150 MiB: %s)",
		float64(rss)/(1<<20), verdict(rss <= 150<<20))
	ratio := float64(podTaskRunReference) / float64(p50)
	if n := w.failed.Load(); n > 0 {
		t.Errorf("%d benchmark runs failed; the figures above are not valid", n)
	}
	report("vs a one-step pod-based TaskRun (%s, reference figure from shared notes; the same gate as a pod TaskRun is measured live in test/pods): %.0fx cheaper at p50 (target >= 30x: %s)",
		ms(podTaskRunReference), ratio, verdict(ratio >= 30))
}

// benchNamespaceGuard times NamespaceGuard on fresh namespaces: create the
// CustomRun, and it applies ~12 objects, runs the 75-question access
// matrix against the API server, and reports Succeeded.
func benchNamespaceGuard(t *testing.T, ns string, w *completionWatch) {
	const runs = 50
	lat := make([]time.Duration, 0, runs)
	from, err := env.kube.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < runs; i++ {
		target := fmt.Sprintf("%s-guard-%d", ns, i)
		_, err := env.kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:        target,
			Labels:      map[string]string{guard.OptInLabel: ns, guard.NamespaceProfileLabel: "dev"},
			Annotations: with(map[string]string{guard.OptInUIDAnnotation: string(from.UID)})}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create %s: %v", target, err)
		}
		defer env.kube.CoreV1().Namespaces().Delete(context.Background(), target, metav1.DeleteOptions{})
		run := parse[v1beta1.CustomRun](t, fmt.Sprintf(`
metadata: {name: guard-%d}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: NamespaceGuard}
  params:
    - {name: namespace, value: %s}
    - {name: ingress, value: [openshift-router, monitoring]}
%s`, i, target, strings.ReplaceAll(personaParams, "          - ", "    - ")))
		lat = append(lat, w.createRunAndWait(t, run))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50 := lat[len(lat)/2]
	report("NamespaceGuard create -> Succeeded on a new namespace over %d runs (apply ~12 objects + 75 access checks): p50=%s p99=%s (target p50 <= 300ms: %s)",
		runs, ms(p50), ms(lat[len(lat)*99/100]), verdict(p50 <= 300*time.Millisecond))
}

// benchImageScan times ImageScan against the ACS emulator: the gate's own
// cost per run, each run asking Central (a new repository name per run, so
// the reuse window never answers) minus the time the emulator spent
// serving that run's scan; the same with the scan reused from the window;
// then 50 scans at once with Central slowed to 2 s each, which the
// per-Central cap of 5 should finish in about 50/5 x 2 s = 20 s, while
// Echo runs keep completing in milliseconds.
func benchImageScan(t *testing.T) {
	central := startCentral(t)
	ns := acsNamespace(t, central, centralToken, true)
	w := newCompletionWatch(t, ns)
	defer w.stop()
	scanOf := func(name, image string) *v1beta1.CustomRun {
		return parse[v1beta1.CustomRun](t, fmt.Sprintf(`
metadata: {name: %s}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: ImageScan}
  params: [{name: image, value: "%s"}]`, name, image))
	}
	scan := func(name string) *v1beta1.CustomRun { return scanOf(name, cleanImage) }
	w.createRunAndWait(t, scan("scan-warm"))
	digest := cleanImage[strings.Index(cleanImage, "@"):]
	var overhead, total []time.Duration
	for i := 0; i < 100; i++ {
		before := central.Busy()
		lat := w.createRunAndWait(t, scanOf(fmt.Sprintf("fresh-%d", i), fmt.Sprintf("registry.bench.test/run-%d/sentiment%s", i, digest)))
		total = append(total, lat)
		overhead = append(overhead, lat-(central.Busy()-before))
	}
	sortDurations(overhead)
	sortDurations(total)
	report("ImageScan gate overhead, each of 100 runs scanned by Central, minus the emulator's own serving time: p50=%s p99=%s (create -> Succeeded incl. Central: p50=%s)",
		ms(overhead[len(overhead)/2]), ms(overhead[len(overhead)*99/100]), ms(total[len(total)/2]))
	lat := make([]time.Duration, 0, 100)
	for i := 0; i < 100; i++ {
		lat = append(lat, w.createRunAndWait(t, scan(fmt.Sprintf("scan-%d", i))))
	}
	sortDurations(lat)
	report("ImageScan with the scan reused from the 10-minute window (no Central call) over 100 runs: p50=%s p99=%s",
		ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]))

	// A fresh Secret, so nothing is reused: every run asks Central.
	slowNS := acsNamespace(t, central, centralToken, true)
	slow := newCompletionWatch(t, slowNS)
	defer slow.stop()
	central.SetLatency(2 * time.Second)
	central.ResetCounters()
	start := time.Now()
	for i := 0; i < 50; i++ {
		run := scan(fmt.Sprintf("slow-%d", i))
		if _, err := env.tekton.TektonV1beta1().CustomRuns(slowNS).Create(context.Background(), run, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var echo []time.Duration
	for i := 0; i < 10; i++ { // other kinds while the scans wait on Central
		time.Sleep(200 * time.Millisecond)
		echo = append(echo, w.createAndWait(t, fmt.Sprintf("echo-during-scans-%d", i)))
	}
	slow.waitCount(t, "slow-", 50, 3*time.Minute)
	took := time.Since(start)
	sort.Slice(echo, func(i, j int) bool { return echo[i] < echo[j] })
	report("50 ImageScans at once with Central slowed to 2 s: all done in %s (the cap of 5 per Central predicts 20.0s; Central saw at most %d in flight); Echo runs meanwhile p50=%s max=%s",
		took.Round(100*time.Millisecond), central.MaxInFlight(), ms(echo[len(echo)/2]), ms(echo[len(echo)-1]))
}

func sortDurations(d []time.Duration) { sort.Slice(d, func(i, j int) bool { return d[i] < d[j] }) }

func report(format string, args ...any) {
	fmt.Printf("bench: "+format+"\n", args...)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// completionWatch sees every run of a namespace finish through an
// informer, so latency is measured when the API server publishes the final
// status, not at the next poll.
type completionWatch struct {
	ns     string
	cancel context.CancelFunc
	mu     sync.Mutex
	done   map[string]time.Time
	wake   chan struct{}
	failed atomic.Int64
}

func newCompletionWatch(t *testing.T, ns string) *completionWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &completionWatch{ns: ns, cancel: cancel, done: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	// An informer rather than a bare watch: the API server drops a watcher
	// that falls behind a burst of 500 runs, and the informer re-lists.
	factory := tektoninformers.NewSharedInformerFactoryWithOptions(env.tekton, 0, tektoninformers.WithNamespace(ns))
	inf := factory.Tekton().V1beta1().CustomRuns().Informer()
	seen := func(obj any) {
		run, ok := obj.(*v1beta1.CustomRun)
		if !ok || !run.IsDone() {
			return
		}
		w.mu.Lock()
		_, already := w.done[run.Name]
		if !already {
			w.done[run.Name] = time.Now()
		}
		w.mu.Unlock()
		if already {
			return
		}
		if !run.IsSuccessful() {
			fmt.Printf("bench: run %s failed: %s\n", run.Name, statusOf(run))
			w.failed.Add(1)
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: seen, UpdateFunc: func(_, obj any) { seen(obj) }}); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("CustomRun informer did not sync")
	}
	return w
}

func (w *completionWatch) stop() { w.cancel() }

func (w *completionWatch) create(t *testing.T, name string) {
	run := parse[v1beta1.CustomRun](t, `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: bench}]`)
	run.Name = name
	if _, err := env.tekton.TektonV1beta1().CustomRuns(w.ns).Create(context.Background(), run, metav1.CreateOptions{}); err != nil {
		t.Errorf("create %s: %v", name, err)
	}
}

func (w *completionWatch) createAndWait(t *testing.T, name string) time.Duration {
	t.Helper()
	run := parse[v1beta1.CustomRun](t, `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: bench}]`)
	run.Name = name
	return w.createRunAndWait(t, run)
}

func (w *completionWatch) createRunAndWait(t *testing.T, run *v1beta1.CustomRun) time.Duration {
	t.Helper()
	name := run.Name
	start := time.Now()
	if _, err := env.tekton.TektonV1beta1().CustomRuns(w.ns).Create(context.Background(), run, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	deadline := time.After(30 * time.Second)
	for {
		w.mu.Lock()
		at, ok := w.done[name]
		w.mu.Unlock()
		if ok {
			return at.Sub(start)
		}
		select {
		case <-w.wake:
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s not done within 30s", name)
		}
	}
}

func (w *completionWatch) waitCount(t *testing.T, prefix string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		c := 0
		for name := range w.done {
			if len(name) >= len(prefix) && name[:len(prefix)] == prefix {
				c++
			}
		}
		w.mu.Unlock()
		if c >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not all %d %s* runs finished within %s", n, prefix, timeout)
}
