package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/modelguard/modelguard/test/ociregistry"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pushImages pushes n small distinct images to a registry and returns
// them by digest.
func pushImages(t *testing.T, host, repo string, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		img, err := random.Image(1024, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.NewTag(fmt.Sprintf("%s/%s-%d:1", host, repo, i))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		out[i] = ref.Context().Name() + "@" + d.String()
	}
	return out
}

// TestBenchSigning prints the signing figures: sign + attest + verify of
// one image against CNCF distribution on loopback (p50/p99 over 60
// images), and 100 images scanned and attested at once through the
// controller, with its peak RSS. It asserts nothing about time.
func TestBenchSigning(t *testing.T) {
	if os.Getenv("MODELGUARD_BENCH") == "" {
		t.Skip("set MODELGUARD_BENCH=1 (make bench) to run the benchmark")
	}
	ctx := context.Background()
	reg := ociregistry.StartDistribution(t)
	key := optIn(t, namespace(t), false)
	s, err := attest.NewSigner("bench", key.Private, key.Password)
	if err != nil {
		t.Fatal(err)
	}
	const runs, warm = 60, 5
	images := pushImages(t, reg.Host, "bench/sign", runs+warm)
	lat := make([]time.Duration, 0, runs)
	steal0, _ := hostSteal()
	loop := time.Now()
	for i, img := range images {
		start := time.Now()
		if _, err := s.Sign(ctx, img, attest.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		scan := attest.VulnPredicate(attest.Scan{Finished: time.Now(), Result: attest.ScanResult{Verdict: "pass"}})
		if _, err := s.Attest(ctx, img, attest.PredicateVuln, scan, attest.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		rep, err := attest.VerifyImage(ctx, attest.ImagePolicy{Image: img, Key: key.Public, MaxScanAge: time.Hour})
		if err != nil || !rep.Pass {
			t.Fatalf("verify %s: %+v %v", img, rep, err)
		}
		if i >= warm {
			lat = append(lat, time.Since(start))
		}
	}
	took := time.Since(loop)
	steal1, _ := hostSteal()
	sortDurations(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	report("sign + attest (vuln) + verify (signature and scan, offline) of one image on CNCF distribution over %d images: p50=%s p99=%s max=%s (target p50 <= 100ms: %s); CPU stolen by the hypervisor meanwhile %.0f%% of 2 cores",
		runs, ms(p50), ms(p99), ms(lat[len(lat)-1]), verdict(p50 <= 100*time.Millisecond), 100*(steal1-steal0).Seconds()/(2*took.Seconds()))

	benchAttestAtOnce(t, reg)
}

// benchAttestAtOnce: 100 ImageScan CustomRuns created at once in a
// namespace that opted in to signing, each on its own image; every scan
// is attested with the namespace's key by the controller.
func benchAttestAtOnce(t *testing.T, reg *ociregistry.Distribution) {
	ctx := context.Background()
	central := startCentral(t)
	central.ScanUnknownAs(&acsemulator.Image{User: "65532", Components: []acsemulator.Component{{Name: "busybox", Version: "1.37.0"}}})
	ns := acsNamespace(t, central, centralToken, true)
	key := optIn(t, ns, true)
	const n = 100
	images := pushImages(t, reg.Host, "bench/burst", n)
	if err := env.controller.ResetPeakRSS(); err != nil {
		t.Fatal(err)
	}
	w := newCompletionWatch(t, ns)
	defer w.stop()
	cpu0, req0 := processCPU(t), apiserverMetrics(t)
	reg0, _ := cpuOf(reg.Pid())
	start := time.Now()
	var wg sync.WaitGroup
	for i, img := range images {
		wg.Go(func() {
			run := parse[v1beta1.CustomRun](t, fmt.Sprintf(`
metadata: {name: scan-%d}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: ImageScan}
  params: [{name: image, value: %q}]`, i, img))
			if _, err := env.tekton.TektonV1beta1().CustomRuns(ns).Create(ctx, run, metav1.CreateOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	w.waitCount(t, "scan-", n, 3*time.Minute)
	if f := w.failed.Load(); f > 0 {
		t.Fatalf("%d of %d scans failed", f, n)
	}
	total := time.Since(start)
	cpu, req := processCPU(t), apiserverMetrics(t)
	reg1, _ := cpuOf(reg.Pid())
	cpu["registry (distribution)"], cpu0["registry (distribution)"] = reg1, reg0
	for _, img := range images {
		atts, err := attest.Attestations(ctx, img, attest.VerifyOptions{PublicKey: key.Public})
		if err != nil || len(atts) != 1 || !strings.Contains(string(atts[0].Predicate), `"verdict":"pass"`) {
			t.Fatalf("%s: %d attestations, %v", img, len(atts), err)
		}
	}
	rss, err := env.controller.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	report("%d images scanned and attested at once through the controller (ImageScan CustomRuns, vuln statements signed with the namespace's key): all done %s after the first create (target <= 3s: %s); controller peak RSS %.1f MiB",
		n, ms(total), verdict(total <= 3*time.Second), float64(rss)/(1<<20))
	reportCPU(fmt.Sprintf("the %d scans", n), total, cpu0, cpu)
	report("  API server requests meanwhile: %s", strings.Join(requestsBetween(req0, req, n/10, total), ", "))
	var at []time.Duration
	w.mu.Lock()
	for _, d := range w.done {
		at = append(at, d.Sub(start))
	}
	w.mu.Unlock()
	sortDurations(at)
	report("  runs done after the first create: first %s, 10th %s, 50th %s, 90th %s, last %s", ms(at[0]), ms(at[9]), ms(at[49]), ms(at[89]), ms(at[len(at)-1]))
}
