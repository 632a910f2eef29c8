package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a child process started by a Cluster. Its stdout and stderr go
// to a log file.
type Process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has been waited for
}

// startProcess starts argv with env appended to os.Environ(). Output goes to
// logDir/<name>.log (appended, so a restarted process keeps its history).
//
// detach: the child gets its own session and survives this Go process.
// Otherwise the kernel SIGKILLs it when the parent dies (Pdeathsig), so a
// crashed or killed test never leaves an apiserver behind.
func startProcess(logDir, name string, argv, env []string, detach bool) (*Process, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("start %s: empty argv", name)
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := spawn(cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		// Reap the child; exec.Cmd fills ProcessState (with rusage).
		_ = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Pdeathsig fires when the *thread* that forked the child exits, not the
// process (golang/go#27505). The Go runtime only ends a thread when a
// goroutine locked to it exits, which a caller may well do. So every child is
// forked from one goroutine that locks its thread and never returns.
var (
	spawnOnce sync.Once
	spawnReq  chan spawnRequest
)

type spawnRequest struct {
	cmd *exec.Cmd
	err chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReq = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread()
			for r := range spawnReq {
				r.err <- r.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnReq <- spawnRequest{cmd: cmd, err: errc}
	return <-errc
}

// Name is the name the process was started with.
func (p *Process) Name() string { return p.name }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath is the file that receives the process' stdout and stderr.
func (p *Process) LogPath() string { return p.logPath }

// Exited reports whether the process has exited (and been reaped).
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.done
	return nil
}

// Stop sends SIGTERM, waits up to 10s, then kills.
func (p *Process) Stop() error { return p.stopWithin(10 * time.Second) }

func (p *Process) stopWithin(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		return p.Kill()
	}
}

// PeakRSS returns the peak resident set size of the process in bytes:
// VmHWM from /proc/<pid>/status while it runs, the rusage maximum once it
// has exited and been reaped.
func (p *Process) PeakRSS() (int64, error) {
	if !p.Exited() {
		hwm, err := readVmHWM(p.Pid())
		if err == nil {
			return hwm, nil
		}
		// It may have exited just now (a zombie has no VmHWM): give the
		// reaper a moment, then fall back to rusage.
		select {
		case <-p.done:
		case <-time.After(time.Second):
			return 0, fmt.Errorf("peak rss of %s: %w", p.name, err)
		}
	}
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > 0 {
		return ru.Maxrss * 1024, nil // Linux reports kilobytes
	}
	return 0, fmt.Errorf("peak rss of %s: not available after exit", p.name)
}

// ResetPeakRSS sets the process's peak RSS (VmHWM) back to its current
// RSS, so a benchmark can measure the peak of one phase of a long-running
// process (Linux: "5" written to /proc/<pid>/clear_refs).
func (p *Process) ResetPeakRSS() error {
	if p.Exited() {
		return fmt.Errorf("reset peak rss of %s: exited", p.name)
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.Pid()), []byte("5"), 0)
}

func readVmHWM(pid int) (int64, error) { return readStatusBytes(pid, "VmHWM") }

// AnonRSS returns the process's anonymous resident memory in bytes
// (RssAnon): its heap and stacks, what a peer's answer can grow. The rest
// of its RSS is file-backed (RssFile: the binary's pages, clean and
// reclaimable by the kernel under pressure).
func (p *Process) AnonRSS() (int64, error) { return readStatusBytes(p.Pid(), "RssAnon") }

// readStatusBytes reads a "<field>: <n> kB" line of /proc/<pid>/status.
func readStatusBytes(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected %s line %q", field, sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", field, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no %s in /proc status (process exited?)", field)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// port is released before returning, so another process could take it
// first; loopback ephemeral ports make that rare.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePorts returns n distinct free ports. All listeners are held until all
// are found, so the ports differ from each other.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// pidAlive reports whether a process with this pid exists (signal 0).
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// WriteLogTails writes the last n lines of every process's log to w: what
// a failed test run prints so the cause is in CI's output.
func (c *Cluster) WriteLogTails(w io.Writer, n int) {
	for _, p := range c.Processes() {
		fmt.Fprintf(w, "--- last lines of %s ---\n%s\n", p.Name(), logTail(p.LogPath(), n))
	}
}

// LogTail returns the last n lines of the process's log.
func (p *Process) LogTail(n int) string { return logTail(p.logPath, n) }

// logTail returns the last n lines of a log file, for error messages.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitHTTP polls url until it answers 200, p exits or the timeout passes.
func waitHTTP(ctx context.Context, p *Process, client *http.Client, url, token string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", url, err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		if p.Exited() {
			return fmt.Errorf("%s exited while starting; log tail:\n%s", p.Name(), logTail(p.LogPath(), 30))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (last: %s); log tail:\n%s", url, timeout, last, logTail(p.LogPath(), 30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", url, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// Process returns the most recently started process of that name
// ("etcd", "kube-apiserver", "tekton-controller", or one of StartProcess),
// or nil.
func (c *Cluster) Process(name string) *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.procs) - 1; i >= 0; i-- {
		if c.procs[i].name == name {
			return c.procs[i]
		}
	}
	return nil
}

// Processes returns every process the cluster started, in start order.
func (c *Cluster) Processes() []*Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Process(nil), c.procs...)
}
