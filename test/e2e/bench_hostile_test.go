package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/test/acsemulator"
)

// TestBenchHostileCentral prints the controller's peak RSS while Central
// answers a scan with 8 MiB and 64 MiB hostile bodies: the reproduced
// attack (empty vulnerabilities) and the shape that fills the decoder's
// retained budget (many small components). Each hostile run must fail with
// ACSResponseTooLarge, and an unrelated run must complete meanwhile.
func TestBenchHostileCentral(t *testing.T) {
	if os.Getenv("MODELGUARD_BENCH") == "" {
		t.Skip("set MODELGUARD_BENCH=1 (make bench) to run the benchmark")
	}
	central := startCentral(t)
	ns := acsNamespace(t, central, centralToken, true)
	echoNS := namespace(t)
	w := newCompletionWatch(t, echoNS)
	defer w.stop()
	w.createAndWait(t, "warm")
	shapes := []struct {
		name   string
		judged func(size int64) bool // within the client's bounds: the gate decides
		body   func(image string, size int64) acsemulator.Stream
	}{
		{"empty vulnerabilities", func(int64) bool { return false }, hostileScan},
		{"many small components", func(size int64) bool { return size < acs.DefaultMaxResponseBytes }, func(image string, size int64) acsemulator.Stream {
			return acsemulator.Stream{Head: `{"id":"` + image[len(image)-71:] + `","scan":{"components":[{"vulns":[]}`,
				Repeat: `,{"name":"component-with-a-name-of-some-length-0123456789","version":"1.0.0","vulns":[{"cve":"CVE-2026-00001","link":"https://example.com/CVE-2026-00001","severity":"IMPORTANT_VULNERABILITY_SEVERITY"}]}`,
				Tail:   `]}}`, Size: size}
		}},
	}
	n := 0
	for _, size := range []int64{8 << 20, 64 << 20} {
		for _, shape := range shapes {
			n++
			image := hostileImage(100 + n)
			if err := env.controller.ResetPeakRSS(); err != nil {
				t.Fatal(err)
			}
			base, _ := env.controller.PeakRSS()
			anon := peakAnon()
			central.StreamNext("/v1/images/scan", 1, 200, "", shape.body(image, size))
			name := fmt.Sprintf("hostile-%d", n)
			start := time.Now()
			createCustomRun(t, ns, fmt.Sprintf(`
metadata: {name: %s}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: ImageScan}
  params: [{name: image, value: "%s"}, {name: severity, value: IMPORTANT}]`, name, image))
			time.Sleep(20 * time.Millisecond)
			echo := w.createAndWait(t, fmt.Sprintf("meanwhile-%d", n))
			run := waitDone(t, ns, name)
			took := time.Since(start)
			peakAnon := anon()
			peak, err := env.controller.PeakRSS()
			if err != nil {
				t.Fatal(err)
			}
			c := condition(run)
			// Past the body or retained-bytes bounds the answer is refused
			// unread; within them (8 MiB of small components) it is a real
			// scan, judged: its IMPORTANT vulnerabilities fail the gate at
			// severity IMPORTANT.
			want := "ACSResponseTooLarge"
			if shape.judged(size) {
				want = "VulnerabilitiesFound"
			}
			ok := c.IsFalse() && c.Reason == want && result(run, "gate") == map[bool]string{true: "fail", false: "error"}[want == "VulnerabilitiesFound"]
			if !ok {
				t.Errorf("%s: %s", name, statusOf(run))
			}
			report("hostile scan body of %d MiB (%s): controller peak RSS %.1f MiB (from %.1f; target <= 150 MiB: %s; of it anonymous at most %.1f MiB, the rest the binary's file-backed pages), the run failed %s in %s (%s), an unrelated Echo run meanwhile took %s",
				size>>20, shape.name, float64(peak)/(1<<20), float64(base)/(1<<20), verdict(peak <= 150<<20), float64(peakAnon)/(1<<20),
				map[bool]string{true: "clearly", false: "WRONGLY"}[ok], took.Round(10*time.Millisecond), c.Reason, ms(echo))
		}
	}
	if n := w.failed.Load(); n > 0 {
		t.Errorf("%d unrelated runs failed", n)
	}
}

// peakAnon samples the controller's anonymous RSS every 10 ms until the
// returned function is called, which returns the highest sample: VmHWM has
// no anonymous-only counterpart.
func peakAnon() func() int64 {
	stop, done := make(chan struct{}), make(chan int64)
	go func() {
		var peak int64
		for {
			if a, err := env.controller.AnonRSS(); err == nil && a > peak {
				peak = a
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() int64 { close(stop); return <-done }
}
