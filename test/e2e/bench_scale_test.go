package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// benchScale creates 5,000 Echo CustomRuns at once (from 64 client
// goroutines with no client-side rate limit, so the test is not the
// bottleneck) and times until the last one is done. Because on 2 cores the
// API server, etcd, the Tekton controller and the test share the CPUs with
// the controller, it also prints who used them, the API server's request
// counts and rate by kind, and the time requests waited in its priority
// and fairness queues.
func benchScale(t *testing.T) {
	const runs = 5000
	ns := namespace(t)
	w := newCompletionWatch(t, ns)
	defer w.stop()
	cfg := env.cluster.RESTConfig(localcluster.UserAdmin)
	cfg.QPS = -1 // no client-side limiter
	creator := tekton.NewForConfigOrDie(cfg)

	// The peak of these runs alone, not of whatever ran before them.
	if err := env.controller.ResetPeakRSS(); err != nil {
		t.Fatal(err)
	}
	cpu0, req0 := processCPU(t), apiserverMetrics(t)
	start := time.Now()
	names := make(chan string, runs)
	for i := range runs {
		names <- fmt.Sprintf("scale-%d", i)
	}
	close(names)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				run := parse[v1beta1.CustomRun](t, `
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
  params: [{name: message, value: bench}]`)
				run.Name = name
				if _, err := creator.TektonV1beta1().CustomRuns(ns).Create(context.Background(), run, metav1.CreateOptions{}); err != nil {
					t.Errorf("create %s: %v", name, err)
				}
			}
		}()
	}
	wg.Wait()
	created := time.Since(start)
	w.waitCount(t, "scale-", runs, 10*time.Minute)
	total := time.Since(start)
	cpu, req := processCPU(t), apiserverMetrics(t)
	rss, err := env.controller.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	report("%d CustomRuns created at once (all created in %s): all Succeeded %s after the first create, %.0f runs/s (target <= 15s: %s); controller peak RSS during them %.1f MiB (target <= 150 MiB: %s)",
		runs, ms(created), total.Round(10*time.Millisecond), float64(runs)/total.Seconds(), verdict(total <= 15*time.Second),
		float64(rss)/(1<<20), verdict(rss <= 150<<20))
	reportCPU(fmt.Sprintf("the %d runs", runs), total, cpu0, cpu)
	counts := requestsBetween(req0, req, runs/50, total)
	var waits []string
	for _, k := range sortedKeys(req.queueWait) {
		if d := req.queueWait[k] - req0.queueWait[k]; d >= 0.05 {
			waits = append(waits, fmt.Sprintf("%s %.1f s", k, d))
		}
	}
	report("  API server requests meanwhile: %s; time waited in its priority-and-fairness queues: %s",
		strings.Join(counts, ", "), orNone(strings.Join(waits, ", ")))
	if n := w.failed.Load(); n > 0 {
		t.Errorf("%d of the %d runs failed", n, runs)
	}
	// 5,000 runs would slow every later test's informers.
	if err := env.tekton.TektonV1beta1().CustomRuns(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Errorf("delete the runs: %v", err)
	}
}

// processCPU is the user+system CPU time of each process of the cluster
// (by name) and of this test process.
func processCPU(t *testing.T) map[string]time.Duration {
	t.Helper()
	out := map[string]time.Duration{}
	for _, p := range append(env.cluster.Processes(), env.controller.Process) {
		if d, err := cpuOf(p.Pid()); err == nil {
			out[p.Name()] = d
		}
	}
	if d, err := cpuOf(os.Getpid()); err == nil {
		out["test client"] = d
	}
	if d, err := hostSteal(); err == nil {
		out[stolen] = d
	}
	return out
}

// stolen is processCPU's key for the time the hypervisor gave this VM's
// CPUs to others: on a shared host it explains a slow run that no process
// here accounts for.
const stolen = "(stolen by the hypervisor)"

// hostSteal is the steal time of all CPUs so far (/proc/stat).
func hostSteal() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	steal, err := strconv.ParseInt(f[8], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/stat steal: %w", err)
	}
	return time.Duration(steal) * time.Second / clockTicks, nil
}

// reportCPU prints who used the CPUs during what, between two processCPU
// snapshots, beside what 2 cores offered meanwhile.
func reportCPU(what string, took time.Duration, before, after map[string]time.Duration) {
	var used []string
	var sum time.Duration
	for _, name := range sortedKeys(after) {
		if name == stolen {
			continue
		}
		d := after[name] - before[name]
		sum += d
		used = append(used, fmt.Sprintf("%s %.2f", name, d.Seconds()))
	}
	report("  CPU-s during %s (2 cores x %.2f s = %.2f available): %s; total %.2f; %s %.2f",
		what, took.Seconds(), 2*took.Seconds(), strings.Join(used, ", "), sum.Seconds(), stolen, (after[stolen] - before[stolen]).Seconds())
}

// requestsBetween lists the API server's requests between two snapshots,
// each kind seen at least atLeast times, with its rate over took.
func requestsBetween(before, after apiMetrics, atLeast int, took time.Duration) []string {
	var counts []string
	for _, k := range sortedKeys(after.requests) {
		if n := after.requests[k] - before.requests[k]; n >= float64(atLeast) {
			counts = append(counts, fmt.Sprintf("%s %.0f (%.0f/s)", k, n, n/took.Seconds()))
		}
	}
	return counts
}

// cpuOf is the process's user + system CPU time so far.
func cpuOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: count the
	// fields after its closing one (utime and stime are the 14th and 15th).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times on Linux.
const clockTicks = 100

// apiMetrics are the API server's request counters and queue waits.
type apiMetrics struct {
	requests  map[string]float64 // "VERB resource[/subresource]", plus " (code)" if not 2xx
	queueWait map[string]float64 // seconds, by priority level
}

var label = regexp.MustCompile(`(\w+)="([^"]*)"`)

// apiserverMetrics scrapes the API server's /metrics as the admin.
func apiserverMetrics(t *testing.T) apiMetrics {
	t.Helper()
	ca, err := os.ReadFile(env.cluster.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, env.cluster.Server+"/metrics", nil)
	admin, _ := env.cluster.User(localcluster.UserAdmin)
	req.Header.Set("Authorization", "Bearer "+admin.Token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := apiMetrics{requests: map[string]float64{}, queueWait: map[string]float64{}}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok || (name != "apiserver_request_total" && name != "apiserver_flowcontrol_request_wait_duration_seconds_sum") {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		v, _ := strconv.ParseFloat(value, 64)
		l := map[string]string{}
		for _, kv := range label.FindAllStringSubmatch(labels, -1) {
			l[kv[1]] = kv[2]
		}
		if name == "apiserver_request_total" {
			k := l["verb"] + " " + l["resource"]
			if l["subresource"] != "" {
				k += "/" + l["subresource"]
			}
			if c := l["code"]; c != "" && c[0] != '2' {
				k += " (" + c + ")" // a conflict or refusal is work too
			}
			m.requests[k] += v
		} else {
			m.queueWait[l["priority_level"]] += v
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
