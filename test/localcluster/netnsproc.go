package localcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// A process in its own network namespace on the node's bridge, as a pod
// without a pod: the host's ports are not its ports (knative's sharedmain
// serves probes on the fixed port 8080, which the Tekton controller
// already holds), and it reaches what pods reach: the host's bridge
// address and the "kubernetes" Service (forward.go). The namespaces have
// fixed names, like the bridge: one node runs on a machine at a time.
const netnsPrefix = "mg-"

// netnsAddr is the address of the i-th harness namespace on the bridge.
func netnsAddr(i int) string { return "10.244.0." + strconv.Itoa(harnessNetnsBase+i) }

// StartInNetns starts argv as a cluster process (see StartProcess) inside
// a new network namespace attached to the node's bridge. The process must
// reach the apiserver as pods do: at InClusterServer. The namespace goes
// away with the process; Stop removes its name.
func (c *Cluster) StartInNetns(name string, argv, env []string) (*Process, error) {
	if !c.node {
		return nil, fmt.Errorf("start %s in a network namespace: the cluster has no node (Config.Node)", name)
	}
	c.mu.Lock()
	i := c.netns
	c.netns++
	c.mu.Unlock()
	ns := netnsPrefix + name
	if len(ns) > 15 || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("start %s in a network namespace: name too long or bad", name)
	}
	// The host side of the veth pair: an interface name, at most 15 bytes.
	host := fmt.Sprintf("mgv%d", i)
	deleteNetns(ns)
	steps := [][]string{
		{"netns", "add", ns},
		{"link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"link", "set", host, "master", cniBridge},
		{"link", "set", host, "up"},
		{"-n", ns, "addr", "add", netnsAddr(i) + "/24", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "route", "add", serviceCIDR, "via", bridgeHostIP},
	}
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			deleteNetns(ns)
			return nil, fmt.Errorf("network namespace for %s: ip %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	c.mu.Lock()
	c.onStop = append(c.onStop, func() { deleteNetns(ns) })
	c.mu.Unlock()
	// ip netns exec enters the namespace and execs argv, so the pid is the
	// process's own and Stop signals it directly.
	return c.StartProcess(name, append([]string{"ip", "netns", "exec", ns}, argv...), env)
}

// InClusterServer is the apiserver's URL as pods and StartInNetns
// processes reach it: the "kubernetes" Service.
func (c *Cluster) InClusterServer() string { return "https://" + kubernetesServiceIP + ":443" }

// InClusterKubeconfig writes (once) and returns a kubeconfig for user that
// points at InClusterServer.
func (c *Cluster) InClusterKubeconfig(user string) (string, error) {
	u, ok := c.User(user)
	if !ok {
		return "", fmt.Errorf("in-cluster kubeconfig: unknown user %q", user)
	}
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		return "", fmt.Errorf("in-cluster kubeconfig: %w", err)
	}
	path := strings.TrimSuffix(kubeconfigPath(c.Dir, user), ".kubeconfig") + ".in-cluster.kubeconfig"
	if err := writeKubeconfig(path, c.InClusterServer(), ca, u); err != nil {
		return "", err
	}
	return path, nil
}

// deleteNetns removes a namespace's name, if there is one; the namespace
// itself ends when its last process does.
func deleteNetns(ns string) {
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
		_ = exec.Command("ip", "netns", "delete", ns).Run()
	}
}

// deleteHarnessNetns removes every harness namespace name a killed run left.
func deleteHarnessNetns() {
	names, _ := filepath.Glob(filepath.Join("/run/netns", netnsPrefix+"*"))
	for _, n := range names {
		deleteNetns(filepath.Base(n))
	}
}
