package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A node leaves more behind than its processes: containerd's shims and
// containers (not our children: the shims daemonize), mounts (container
// root filesystems, pod network namespaces, the kubelet's volumes and its
// rshared root dir), the kubelet's symlinks in /var/log/containers, libcni's
// cache files, the pods' bridge and the sysctls the kubelet set. Stop and
// StopDir remove all of it, in two steps around stopping the processes.

// hasNode reports whether the cluster in dir ran a node.
func hasNode(dir string) bool {
	fi, err := os.Stat(nodePathsIn(dir).dir)
	return err == nil && fi.IsDir()
}

// stopNodeTasks kills and deletes every container task of the node while
// containerd still runs: then each shim unmounts its containers' root
// filesystems and exits. The kubelet must be stopped first, or it starts
// the containers again.
func stopNodeTasks(dir string, log io.Writer) {
	p := nodePathsIn(dir)
	if _, err := os.Stat(p.containerdSock); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctr := func(args ...string) ([]byte, error) {
		full := append([]string{"--address", p.containerdSock, "--namespace", "k8s.io"}, args...)
		out, err := exec.CommandContext(ctx, "ctr", full...).CombinedOutput()
		if err != nil {
			return out, fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return out, nil
	}
	// The ids outlive containerd: cleanupNode removes their cgroups, which
	// a task deleted through a dying shim leaves behind.
	if out, err := ctr("containers", "ls", "--quiet"); err == nil {
		_ = os.WriteFile(p.containerIDs, out, 0o600)
	}
	// Deleting a pod's sandbox task may shut down the shim its other
	// containers share before they are deleted ("ttrpc: closed"); a
	// second round deletes those.
	var lastErr error
	for range 3 {
		out, err := ctr("tasks", "ls", "--quiet")
		if err != nil {
			fmt.Fprintf(log, "localcluster: list node containers: %v\n", err)
			return
		}
		ids := strings.Fields(string(out))
		if len(ids) == 0 {
			lastErr = nil
			break
		}
		// --force kills each task with SIGKILL and waits for it.
		_, lastErr = ctr(append([]string{"tasks", "delete", "--force"}, ids...)...)
	}
	if lastErr != nil {
		fmt.Fprintf(log, "localcluster: delete node containers: %v\n", lastErr)
	}
	// libcni caches each attachment's result under a name holding the
	// sandbox id (also for containerd's own loopback network), and
	// nothing deletes it when the pod is not torn down through CRI.
	if out, err := ctr("containers", "ls", "--quiet"); err == nil {
		for _, id := range strings.Fields(string(out)) {
			removeGlob(filepath.Join(cniCacheDir, "results", "*-"+id+"-*"))
		}
	}
}

// cniCacheDir is libcni's cache dir, fixed in containerd 1.6.
const cniCacheDir = "/var/lib/cni"

func removeGlob(pattern string) {
	matches, _ := filepath.Glob(pattern)
	for _, m := range matches {
		_ = os.Remove(m)
	}
}

// cleanupNode removes what the node left after its processes stopped and
// returns what it could not.
func cleanupNode(dir string, log io.Writer) []string {
	p := nodePathsIn(dir)
	var problems []string
	if left := killShims(p.containerdSock); len(left) > 0 {
		problems = append(problems, "containerd shims still running: "+strings.Join(left, ", "))
	}
	if err := unmountUnder(dir); err != nil {
		problems = append(problems, err.Error())
	}
	removeLogSymlinks(dir)
	removeGlob(filepath.Join(cniCacheDir, "results", p.cniNetwork+"-*"))
	// The shims make /run/containerd/s for their sockets, whatever
	// containerd's state dir; remove it if no other containerd uses it
	// (Remove fails on a dir that is not empty).
	_ = os.Remove("/run/containerd/s")
	_ = os.Remove("/run/containerd")
	// runc puts containers under a "k8s.io" cgroup (containerd's
	// namespace) in every hierarchy; a task whose shim died first keeps
	// its own, and runc leaves the parent behind. rmdir only succeeds on
	// an empty cgroup, so another node's are safe.
	removeContainerCgroups(p.containerIDs)
	if parents, _ := filepath.Glob("/sys/fs/cgroup/*/k8s.io"); len(parents) > 0 {
		for _, d := range parents {
			_ = syscall.Rmdir(d)
		}
	}
	_ = syscall.Rmdir("/sys/fs/cgroup/k8s.io") // cgroup v2 only hosts
	deleteHarnessNetns()
	if err := deleteBridge(); err != nil {
		problems = append(problems, err.Error())
	}
	if err := restoreSysctls(p.sysctls); err != nil {
		problems = append(problems, err.Error())
	}
	for _, pr := range problems {
		fmt.Fprintf(log, "localcluster: node cleanup: %s\n", pr)
	}
	return problems
}

// killShims SIGKILLs the shims that serve our containerd (their argv holds
// "-address <our socket>") and returns those still alive after 5s.
func killShims(sock string) []string {
	pids := shimPids(sock)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(stopGrace)
	for len(pids) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		pids = shimPids(sock)
	}
	var left []string
	for _, pid := range pids {
		left = append(left, strconv.Itoa(pid))
	}
	return left
}

func shimPids(sock string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == sock && procState(pid) != 'Z' {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// procState is the state letter of /proc/<pid>/stat, 0 if unknown.
func procState(pid int) byte {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2]
	}
	return 0
}

// MountsUnder returns the mount points at or under dir in this process'
// mount namespace, deepest first.
func MountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "id parent major:minor root mountpoint options ..."
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount under dir, deepest first, a few rounds
// since mounts may be stacked on one point.
func unmountUnder(dir string) error {
	for range 5 {
		mounts, err := MountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		for _, m := range mounts {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	mounts, err := MountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("still mounted under %s: %s", dir, strings.Join(mounts, ", "))
	}
	return nil
}

// removeLogSymlinks removes the kubelet's symlinks in /var/log/containers
// (a fixed path) that point into dir.
func removeLogSymlinks(dir string) {
	const logDir = "/var/log/containers"
	entries, err := os.ReadDir(logDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		link := filepath.Join(logDir, e.Name())
		if target, err := os.Readlink(link); err == nil && strings.HasPrefix(target, dir+"/") {
			_ = os.Remove(link)
		}
	}
}

// deleteBridge deletes the pods' bridge (see createBridge), which the
// bridge plugin never removes.
func deleteBridge() error {
	if _, err := os.Stat(filepath.Join("/sys/class/net", cniBridge)); err != nil {
		return nil
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return nil
	}
	if out, err := exec.Command(ip, "link", "delete", cniBridge).CombinedOutput(); err != nil {
		return fmt.Errorf("delete bridge %s: %w: %s", cniBridge, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeContainerCgroups removes the cgroup of every container listed in
// idsFile, in every hierarchy (cgroup v1) or the unified one.
func removeContainerCgroups(idsFile string) {
	ids, err := os.ReadFile(idsFile)
	if err != nil {
		return
	}
	for _, id := range strings.Fields(string(ids)) {
		if strings.ContainsAny(id, "/.") {
			continue // a container id is hex; never walk out of k8s.io
		}
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/k8s.io/" + id)
		for _, d := range append(dirs, "/sys/fs/cgroup/k8s.io/"+id) {
			_ = syscall.Rmdir(d)
		}
	}
}
