package localcluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/modelguard/modelguard/test/tools"
)

// A detached cluster (make demo) outlives the process that started it. Its
// state lives in Dir/cluster.json, so that Attach can use it and StopDir
// (make demo-stop) can end it from another process. Dir/pids lists the same
// processes as "name pid" lines for humans and shell scripts.
const (
	stateFile = "cluster.json"
	pidsFile  = "pids"
)

type clusterState struct {
	Server    string       `json:"server"`
	CAFile    string       `json:"caFile"`
	Tools     *tools.Tools `json:"tools"`
	Users     []User       `json:"users"`
	Processes []procRecord `json:"processes"`
	Registry  string       `json:"registry,omitempty"` // with a node
	Images    *Images      `json:"images,omitempty"`
}

// procRecord identifies a process by pid and argv[0], so that a pid reused
// by an unrelated process after a reboot is never signalled.
type procRecord struct {
	Name  string `json:"name"`
	Pid   int    `json:"pid"`
	Argv0 string `json:"argv0"`
}

// running reports whether the recorded process still runs: the pid exists,
// is no zombie and still runs the recorded binary.
func (r procRecord) running() bool {
	if !pidAlive(r.Pid) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.Pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		if s := stat[i+2]; s == 'Z' || s == 'X' {
			return false
		}
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.Pid))
	if err != nil {
		return false
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return argv0 == r.Argv0
}

func (c *Cluster) saveState() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saveStateLocked()
}

// saveStateLocked writes cluster.json and pids atomically (temp file and
// rename), so a reader never sees half a file. c.mu must be held.
func (c *Cluster) saveStateLocked() error {
	st := clusterState{Server: c.Server, CAFile: c.CAFile, Tools: c.Tools, Users: c.users, Registry: c.Registry, Images: c.Images}
	var pids strings.Builder
	for _, p := range c.procs {
		st.Processes = append(st.Processes, procRecord{Name: p.name, Pid: p.Pid(), Argv0: p.cmd.Args[0]})
		fmt.Fprintf(&pids, "%s %d\n", p.name, p.Pid())
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("save cluster state: %w", err)
	}
	if err := writeAtomic(filepath.Join(c.Dir, stateFile), data, 0o600); err != nil {
		return fmt.Errorf("save cluster state: %w", err)
	}
	if err := writeAtomic(filepath.Join(c.Dir, pidsFile), []byte(pids.String()), 0o644); err != nil {
		return fmt.Errorf("save pids: %w", err)
	}
	return nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readState(dir string) (*clusterState, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("read cluster state: %w", err)
	}
	var st clusterState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

// Attach returns the cluster running in dir, started earlier (usually by
// another process) with Detach. Its Stop stops the recorded processes but
// keeps dir, like StopDir.
func Attach(dir string) (*Cluster, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	st, err := readState(abs)
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", abs, err)
	}
	apiserverUp := false
	for _, r := range st.Processes {
		if r.Name == "kube-apiserver" && r.running() {
			apiserverUp = true
		}
	}
	if !apiserverUp {
		return nil, fmt.Errorf("attach to %s: kube-apiserver is not running", abs)
	}
	return &Cluster{
		Dir: abs, Server: st.Server, CAFile: st.CAFile, Tools: st.Tools,
		users: st.Users, log: io.Discard, detach: true, attached: st.Processes,
		Registry: st.Registry, Images: st.Images,
	}, nil
}

// StopDir stops the processes of the cluster recorded in dir (SIGTERM, then
// SIGKILL after 5s). It keeps dir, with its logs. Stopping a cluster that no
// longer runs is not an error.
func StopDir(dir string) error {
	st, err := readState(dir)
	if err != nil {
		return fmt.Errorf("stop cluster in %s: %w", dir, err)
	}
	node := hasNode(dir)
	if node {
		// The kubelet first, or it restarts the containers we kill.
		stopRecords(recordsNamed(st.Processes, "kubelet"), io.Discard)
		stopNodeTasks(dir, io.Discard)
	}
	left := stopRecords(st.Processes, io.Discard)
	if node {
		left = append(left, cleanupNode(dir, io.Discard)...)
	}
	if len(left) > 0 {
		return fmt.Errorf("stop cluster in %s: still running: %s", dir, strings.Join(left, ", "))
	}
	return nil
}

// recordsNamed returns the records of the given process name.
func recordsNamed(recs []procRecord, name string) []procRecord {
	var out []procRecord
	for _, r := range recs {
		if r.Name == name {
			out = append(out, r)
		}
	}
	return out
}

// stopRecords stops recorded processes that are not our children, the last
// started first (Tekton, apiserver, etcd: each shuts down quickly only while
// what it talks to still runs): SIGTERM, then SIGKILL after the grace
// period. It returns the ones it could not stop.
func stopRecords(recs []procRecord, log io.Writer) []string {
	var left []string
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if !r.running() {
			continue
		}
		if !signalAndWait(r, syscall.SIGTERM, stopGrace, log) &&
			!signalAndWait(r, syscall.SIGKILL, stopGrace, log) {
			left = append(left, fmt.Sprintf("%s (pid %d)", r.Name, r.Pid))
		}
	}
	return left
}

// signalAndWait signals r and reports whether it is gone within d.
func signalAndWait(r procRecord, sig syscall.Signal, d time.Duration, log io.Writer) bool {
	if err := syscall.Kill(r.Pid, sig); err != nil && err != syscall.ESRCH {
		fmt.Fprintf(log, "localcluster: signal %s (pid %d): %v\n", r.Name, r.Pid, err)
	}
	deadline := time.Now().Add(d)
	for r.running() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
