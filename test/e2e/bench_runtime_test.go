package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// benchRuntimeWatch holds 200 RuntimeWatch runs at once, each polling the
// ACS emulator every second for a minute, and measures the controller
// meanwhile: its CPU (from /proc/<pid>/stat), its resident memory (VmRSS,
// sampled every second), and the latency of an unrelated gate (ImageScan,
// another namespace's Secret) created every 200 ms. A watch frees its job
// slot between polls, so 200 of them must not starve the 64 slots.
func benchRuntimeWatch(t *testing.T) {
	const watches, window = 200, 60 * time.Second
	central := startCentral(t)
	ns := acsNamespace(t, central, centralToken, true)
	bindController(t, ns, "modelguard-workload-reader")
	deployMany(t, central, ns, watches)

	other := acsNamespace(t, central, centralToken, true)
	gates := newCompletionWatch(t, other)
	defer gates.stop()
	scan := func(name string) *v1beta1.CustomRun {
		return parse[v1beta1.CustomRun](t, fmt.Sprintf(`
metadata: {name: %s}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: ImageScan}
  params: [{name: image, value: "%s"}]`, name, cleanImage))
	}
	gates.createRunAndWait(t, scan("gate-warm"))
	var before []time.Duration
	for i := 0; i < 20; i++ {
		before = append(before, gates.createRunAndWait(t, scan(fmt.Sprintf("gate-before-%d", i))))
	}

	w := newCompletionWatch(t, ns)
	defer w.stop()
	pid := env.controller.Pid()
	cpu0, _ := cpuOf(pid)
	start := time.Now()
	for i := 0; i < watches; i++ {
		run := parse[v1beta1.CustomRun](t, fmt.Sprintf(`
metadata: {name: watch-%d}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: RuntimeWatch}
  params: [{name: deployment, value: model-%d}, {name: window, value: %s}, {name: grace, value: 0s}, {name: poll, value: 1s}]`, i, i, window))
		if _, err := env.tekton.TektonV1beta1().CustomRuns(ns).Create(context.Background(), run, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	created := time.Since(start)
	var during []time.Duration
	var rssPeak int64
	for i := 0; time.Since(start) < window-5*time.Second; i++ {
		time.Sleep(200 * time.Millisecond)
		during = append(during, gates.createRunAndWait(t, scan(fmt.Sprintf("gate-during-%d", i))))
		if i%5 == 0 {
			if rss, err := vmRSS(pid); err == nil {
				rssPeak = max(rssPeak, rss)
			}
		}
	}
	alertsDuring := central.Calls("/v1/alerts")
	busy := time.Since(start)
	cpu1, _ := cpuOf(pid)
	w.waitCount(t, "watch-", watches, 3*time.Minute)
	done := time.Since(start)
	sortDurations(before)
	sortDurations(during)
	cores := (cpu1 - cpu0).Seconds() / busy.Seconds()
	report("%d RuntimeWatches at once, each polling the ACS emulator every 1 s for %s (all created in %s, %.0f alert listings/s reached Central): controller CPU %.2f cores, RSS peak %.1f MiB while they ran (target <= 150 MiB: %s); all done %s after the first create",
		watches, window, ms(created), float64(alertsDuring)/busy.Seconds(), cores, float64(rssPeak)/(1<<20), verdict(rssPeak > 0 && rssPeak <= 150<<20), done.Round(100*time.Millisecond))
	p99 := during[len(during)*99/100]
	report("an unrelated gate (ImageScan, another namespace) meanwhile, %d runs: p50=%s p99=%s max=%s; before the watches p50=%s p99=%s (target: no stall, p99 <= 1s: %s)",
		len(during), ms(during[len(during)/2]), ms(p99), ms(during[len(during)-1]), ms(before[len(before)/2]), ms(before[len(before)*99/100]), verdict(p99 <= time.Second))
	if n := w.failed.Load(); n > 0 {
		t.Errorf("%d of the %d watches failed", n, watches)
	}
}

// deployMany creates n Deployments model-0..n-1 and reports each, with its
// server process, to the emulated Sensor.
func deployMany(t *testing.T, central *acsemulator.Server, ns string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += 16 {
				name := fmt.Sprintf("model-%d", i)
				d, err := env.kube.AppsV1().Deployments(ns).Create(context.Background(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
						Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
							Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kserve-container", Image: cleanImage}}}}}}, metav1.CreateOptions{})
				if err == nil {
					err = central.AddDeployment(acsemulator.Workload{UID: string(d.UID), Name: name, Namespace: ns,
						Containers: []acsemulator.WorkloadContainer{{Name: "kserve-container", Image: cleanImage}}})
				}
				if err == nil {
					err = central.Exec(acsemulator.Process{DeploymentUID: string(d.UID), Container: "kserve-container", ExecPath: "/usr/bin/modelguard", Args: "serve"})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// vmRSS is the process's resident memory now, in bytes.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}
