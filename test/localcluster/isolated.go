package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Isolation says how StartIsolated sets a process apart from the host, the
// way a pod is: some upstream binaries bind fixed ports (every knative
// controller serves its probes on :8080, the port Tekton's controller
// already holds), and some reach others by in-cluster DNS names, which
// nothing resolves here.
type Isolation struct {
	// Net gives the process a network namespace of its own, with only a
	// loopback interface: what it binds collides with nothing.
	Net bool
	// Reach lists host ports the process can reach at 127.0.0.1:<port>
	// inside its network namespace (the apiserver's, above all). The
	// forwarding runs in this Go process (see forwardIntoNetns).
	Reach []int
	// Hosts are /etc/hosts entries (name → address) that only this
	// process sees: it gets a mount namespace of its own with a private
	// hosts file bound over /etc/hosts.
	Hosts map[string]string
}

// isolationScript runs in the new namespaces before the program: it brings
// up loopback, binds the private hosts file, and waits until every
// forwarded port answers, so the program never starts before its
// apiserver is reachable.
const isolationScript = `set -e
if [ -n "$MODELGUARD_NETNS" ]; then ip link set lo up; fi
if [ -n "$MODELGUARD_HOSTS" ]; then mount --bind "$MODELGUARD_HOSTS" /etc/hosts; fi
for p in $MODELGUARD_REACH; do
  until (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do sleep 0.1; done
done
exec "$@"`

// StartIsolated starts argv like StartProcess, in the namespaces iso asks
// for. The process keeps its pid through the wrapper (unshare and bash
// exec), so Stop stops it like any other.
func (c *Cluster) StartIsolated(ctx context.Context, name string, argv, env []string, iso Isolation) (*Process, error) {
	unshare := []string{"unshare"}
	if iso.Net {
		unshare = append(unshare, "--net")
		env = append(env, "MODELGUARD_NETNS=1")
	} else if len(iso.Reach) > 0 {
		return nil, fmt.Errorf("start %s: Reach needs Net", name)
	}
	if len(iso.Hosts) > 0 {
		hosts, err := c.writeHostsFile(name, iso.Hosts)
		if err != nil {
			return nil, err
		}
		unshare = append(unshare, "--mount", "--propagation", "private")
		env = append(env, "MODELGUARD_HOSTS="+hosts)
	}
	var reach []string
	for _, p := range iso.Reach {
		reach = append(reach, strconv.Itoa(p))
	}
	env = append(env, "MODELGUARD_REACH="+strings.Join(reach, " "))
	full := append(append(unshare, "--", "bash", "-c", isolationScript, name), argv...)
	p, err := c.StartProcess(name, full, env)
	if err != nil {
		return nil, err
	}
	if !iso.Net || len(iso.Reach) == 0 {
		return p, nil
	}
	if err := c.forwardIntoProcess(ctx, p, iso.Reach); err != nil {
		_ = p.Kill()
		return nil, err
	}
	return p, nil
}

// forwardIntoProcess forwards the host ports into p's network namespace
// once unshare has made it and bash has brought its loopback up.
func (c *Cluster) forwardIntoProcess(ctx context.Context, p *Process, ports []int) error {
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p.Pid()))
		if err == nil && ns != own {
			f, ferr := forwardIntoNetns(p.Pid(), ports)
			if ferr == nil {
				c.mu.Lock()
				c.onStop = append(c.onStop, f.Close)
				c.mu.Unlock()
				return nil
			}
			last = ferr // loopback not up yet
		}
		if p.Exited() {
			return fmt.Errorf("%s exited while starting:\n%s", p.Name(), logTail(p.LogPath(), 20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("forward ports into %s: %v", p.Name(), last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writeHostsFile writes a hosts file with loopback and the entries.
func (c *Cluster) writeHostsFile(name string, entries map[string]string) (string, error) {
	names := make([]string, 0, len(entries))
	for n := range entries {
		if strings.ContainsAny(n, " \t\n#") {
			return "", fmt.Errorf("hosts entry %q: not a host name", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
	for _, n := range names {
		fmt.Fprintf(&b, "%s\t%s\n", entries[n], n)
	}
	path := filepath.Join(c.Dir, "isolated", name+".hosts")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}
