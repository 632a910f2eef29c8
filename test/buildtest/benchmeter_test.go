package buildtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sample is one timed step of the benchmark: its wall time, and who used
// the machine's CPUs meanwhile.
type sample struct {
	wall     time.Duration
	client   time.Duration // the builder process (getrusage), or this test process
	registry time.Duration // the registry process (/proc/PID/stat)
	softirq  time.Duration // the kernel's softirq time: mostly the loopback traffic itself
	others   time.Duration // everyone else, steal included (/proc/stat busy time minus the above)
	rss      int64         // the builder's peak RSS
}

// userHZ is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const userHZ = 100

// measure times run, which returns the CPU time and peak RSS of the child
// process it ran (zero when it ran in this process: then this process's CPU
// time counts), and splits the machine's busy time between that client, the
// registry and everything else.
func measure(t *testing.T, registryPid int, run func() (time.Duration, int64)) sample {
	t.Helper()
	reg0, self0 := procCPU(t, registryPid), selfCPU()
	busy0, soft0 := machineBusy(t)
	start := time.Now()
	child, rss := run()
	s := sample{wall: time.Since(start), rss: rss, client: child}
	if child == 0 { // the work ran in this process
		s.client = selfCPU() - self0
	}
	s.registry = procCPU(t, registryPid) - reg0
	busy, soft := machineBusy(t)
	s.softirq = soft - soft0
	s.others = max(0, busy-busy0-s.client-s.registry-s.softirq)
	return s
}

// procCPU is a process's user+system CPU time, all threads.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / userHZ
}

// machineBusy is the time all CPUs spent not idle since boot, and the part
// of it in softirq context (which no process is charged for).
func machineBusy(t *testing.T) (busy, softirq time.Duration) {
	t.Helper()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var all, soft int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i < 8 && i != 3 && i != 4 { // not idle, not iowait; guest is inside user
			all += n
		}
		if i == 6 {
			soft = n
		}
	}
	return time.Duration(all) * time.Second / userHZ, time.Duration(soft) * time.Second / userHZ
}

func selfCPU() time.Duration { return rusageCPU(syscall.RUSAGE_SELF) }

func rusageCPU(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// buildOutput is what `modelguard build -o json` prints.
type buildOutput struct {
	ImageDigest string `json:"IMAGE_DIGEST"`
	Layers      []struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
		Cached bool   `json:"digestFromCache"`
	} `json:"layers"`
}

// build runs `modelguard build` as its own process, as a Task step does,
// and returns its output, CPU time (getrusage) and peak RSS.
//
// The peak RSS is the child's VmHWM, polled until it exits: getrusage's
// ru_maxrss cannot be used, because Go starts children with vfork, and at
// exec Linux folds the parent's high-water mark into the child's (it would
// report this test process's peak, hundreds of MiB after hashing the model).
func build(t *testing.T, bin, model, base, target, cache string) (buildOutput, time.Duration, int64) {
	t.Helper()
	cmd := exec.Command(bin, "build", "--model", model, "--base", base, "--target", target,
		"--runtime", "vllm", "--cache-dir", cache, "--source-date-epoch", "0", "-o", "json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var hwm int64
	var err error
	for waiting := true; waiting; {
		select {
		case err = <-exited:
			waiting = false
		case <-time.After(2 * time.Millisecond):
			hwm = max(hwm, vmHWM(cmd.Process.Pid))
		}
	}
	if err != nil {
		t.Fatalf("modelguard build: %v\n%s", err, errb.String())
	}
	var res buildOutput
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.ImageDigest == "" {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return res, time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), hwm
}

// vmHWM is a running process's peak resident set size (0 once it is gone).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), "VmHWM:")
	kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.SplitN(rest, "\n", 2)[0], "kB")), 10, 64)
	return kb << 10
}

// spread is the min, median and max of some samples by one measure.
type spread struct{ min, median, max time.Duration }

func spreadOf(samples []sample, by func(sample) time.Duration) spread {
	v := make([]time.Duration, len(samples))
	for i, s := range samples {
		v[i] = by(s)
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return spread{v[0], v[len(v)/2], v[len(v)-1]}
}

func (s spread) String() string {
	return fmt.Sprintf("median %s (min %s, max %s)", s.median.Round(time.Millisecond), s.min.Round(time.Millisecond), s.max.Round(time.Millisecond))
}

func wall(s sample) time.Duration     { return s.wall }
func client(s sample) time.Duration   { return s.client }
func registry(s sample) time.Duration { return s.registry }
func others(s sample) time.Duration   { return s.others }

// medianSample is the sample with the median wall time.
func medianSample(samples []sample) sample {
	sorted := append([]sample(nil), samples...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].wall < sorted[j].wall })
	return sorted[len(sorted)/2]
}

func cpuS(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

func mib(n int64) float64 { return float64(n) / (1 << 20) }
