package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/modelguard/modelguard/test/tools"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// nodeReadyTimeout bounds the wait for the node to be Ready and untainted:
// the controller-manager's node lifecycle controller removes the not-ready
// taint a few seconds after the kubelet reports Ready.
const nodeReadyTimeout = 90 * time.Second

// Host programs a node needs, by the Debian package that has them
// (hack/deps.sh installs them).
var nodeHostPrograms = map[string]string{
	"containerd":              "containerd",
	"containerd-shim-runc-v2": "containerd",
	"ctr":                     "containerd",
	"runc":                    "runc",
	"/usr/lib/cni/bridge":     "containernetworking-plugins",
	"/usr/lib/cni/host-local": "containernetworking-plugins",
	"/usr/lib/cni/portmap":    "containernetworking-plugins",
	tools.BusyboxBinary:       "busybox-static",
}

// checkNodeHost fails with what to do if this machine cannot run a node.
func checkNodeHost() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("a node (Config.Node) needs root: containerd and the kubelet mount, create network namespaces and cgroups")
	}
	var missing []string
	for prog, pkg := range nodeHostPrograms {
		if strings.HasPrefix(prog, "/") {
			if fi, err := os.Stat(prog); err != nil || !fi.Mode().IsRegular() {
				missing = append(missing, pkg)
			}
		} else if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("a node needs the Debian packages %s (run hack/deps.sh, or make deps)", strings.Join(uniqueSorted(missing), " "))
	}
	return nil
}

// startNode starts the registry (with the node's images pushed), containerd,
// the kubelet, kube-scheduler and kube-controller-manager. It does not wait
// for the node to be Ready; waitNodeReady does.
func (c *Cluster) startNode(ctx context.Context, ni *tools.NodeImages) error {
	p := nodePathsIn(c.Dir)
	// A unix socket path holds at most 107 bytes; containerd adds ".ttrpc".
	if n := len(p.containerdSock) + len(".ttrpc"); n > 100 {
		return fmt.Errorf("cluster dir %s is too long for containerd's socket path (%d bytes); use a shorter Config.Dir or TMPDIR", c.Dir, n)
	}
	if err := createBridge(); err != nil {
		return err
	}
	host, err := c.startRegistry(ctx)
	if err != nil {
		return fmt.Errorf("start registry: %w", err)
	}
	c.Registry = host
	if err := c.forwardKubernetesService(); err != nil {
		return err
	}
	start := time.Now()
	if c.Images, err = pushNodeImages(ctx, ni, host, c.Tools.TektonVersion); err != nil {
		return err
	}
	fmt.Fprintf(c.log, "localcluster: node images pushed to %s (%.1fs)\n", host, time.Since(start).Seconds())
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	c.ports = append(c.ports, ports...)
	if err := writeNodeConfigs(p, host, c.Images.Pause, ports[0], ports[1]); err != nil {
		return err
	}
	if err := c.startContainerd(ctx, p); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	if err := saveSysctls(p.sysctls); err != nil {
		return err
	}
	if err := c.startKubelet(p); err != nil {
		return fmt.Errorf("start kubelet: %w", err)
	}
	admin := c.Kubeconfig(UserAdmin)
	if _, err := c.StartProcess("kube-scheduler", []string{c.Tools.KubeScheduler,
		"--kubeconfig=" + admin,
		"--leader-elect=false",
		// No serving endpoint: nothing scrapes it, and no port to collide.
		"--secure-port=0",
	}, nil); err != nil {
		return fmt.Errorf("start kube-scheduler: %w", err)
	}
	if _, err := c.StartProcess("kube-controller-manager", []string{c.Tools.KubeControllerManager,
		"--kubeconfig=" + admin,
		"--leader-elect=false",
		"--secure-port=0",
		// Service account tokens and the kube-root-ca.crt ConfigMaps.
		"--service-account-private-key-file=" + filepath.Join(c.Dir, "pki", "sa.key"),
		"--root-ca-file=" + c.CAFile,
		"--use-service-account-credentials=false",
	}, nil); err != nil {
		return fmt.Errorf("start kube-controller-manager: %w", err)
	}
	return nil
}

// tektonImages returns the controller's image flags: the node's images by
// digest (if there is a node), overridden by those the caller gave.
func (c *Cluster) tektonImages(given map[string]string) map[string]string {
	images := map[string]string{}
	if c.Images != nil {
		images["entrypoint-image"] = c.Images.Entrypoint
		images["nop-image"] = c.Images.Nop
		images["sidecarlogresults-image"] = c.Images.SidecarLogResults
		images["workingdirinit-image"] = c.Images.WorkingDirInit
		images["shell-image"] = c.Images.Busybox
	}
	for k, v := range given {
		images[k] = v
	}
	return images
}

// startContainerd runs containerd with its own root, state and socket, and
// waits until it answers on the socket.
func (c *Cluster) startContainerd(ctx context.Context, p nodePaths) error {
	proc, err := c.StartProcess("containerd", []string{"containerd",
		"--config", p.containerdConf,
		"--root", p.containerdRoot,
		"--state", p.containerdState,
		"--address", p.containerdSock,
	}, []string{"PATH=" + withSbin(os.Getenv("PATH"))})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.CommandContext(ctx, "ctr", "--address", p.containerdSock, "version")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		if proc.Exited() {
			return fmt.Errorf("containerd exited while starting; log tail:\n%s", logTail(proc.LogPath(), 30))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd not answering after 30s (%v: %s); log tail:\n%s", err, strings.TrimSpace(string(out)), logTail(proc.LogPath(), 30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for containerd: %w", ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// startKubelet runs the kubelet as admin (there is no node authorizer).
// The apiserver must reach it on 127.0.0.1 for logs and exec, but the
// kubelet refuses a loopback --node-ip ("nodeIP can't be loopback
// address", and then the node has no address at all). An IP given as the
// hostname is taken as the node's address unchecked, so the node is named
// 127.0.0.1.
func (c *Cluster) startKubelet(p nodePaths) error {
	_, err := c.StartProcess("kubelet", []string{c.Tools.Kubelet,
		"--config=" + p.kubeletConf,
		"--kubeconfig=" + c.Kubeconfig(UserAdmin),
		"--hostname-override=" + nodeName,
		"--root-dir=" + p.kubeletRoot,
		"--cert-dir=" + p.kubeletCerts,
	}, []string{"PATH=" + withSbin(os.Getenv("PATH"))})
	return err
}

// waitNodeReady waits until the node is Ready and carries no taint: then
// pods schedule onto it.
func (c *Cluster) waitNodeReady(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	deadline := time.Now().Add(nodeReadyTimeout)
	last := "no node yet"
	for {
		n, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err == nil {
			var ok bool
			if ok, last = nodeUsable(n); ok {
				return nil
			}
		} else {
			last = err.Error()
		}
		for _, name := range []string{"containerd", "kubelet", "kube-scheduler", "kube-controller-manager"} {
			if proc := c.Process(name); proc != nil && proc.Exited() {
				return fmt.Errorf("%s exited; log tail:\n%s", name, logTail(proc.LogPath(), 40))
			}
		}
		if time.Now().After(deadline) {
			kubelet := c.Process("kubelet")
			return fmt.Errorf("node %s not usable after %s (%s); kubelet log tail:\n%s", nodeName, nodeReadyTimeout, last, logTail(kubelet.LogPath(), 40))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for node: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func nodeUsable(n *corev1.Node) (bool, string) {
	ready := false
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status == corev1.ConditionTrue
			if !ready {
				return false, fmt.Sprintf("Ready=%s: %s", cond.Status, cond.Message)
			}
		}
	}
	if !ready {
		return false, "no Ready condition yet"
	}
	if len(n.Spec.Taints) > 0 {
		return false, fmt.Sprintf("tainted %s", n.Spec.Taints[0].Key)
	}
	return true, ""
}

// startRegistry runs CNCF distribution's registry for the node's images as
// a process of the cluster, storage under Dir/registry, on loopback, and
// forwards the same port of the bridge's host address to it: that is the
// registry's one name, for the host, the node's containerd and pods.
func (c *Cluster) startRegistry(ctx context.Context) (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	c.ports = append(c.ports, port)
	local := "127.0.0.1:" + strconv.Itoa(port)
	dir := filepath.Join(c.Dir, "registry")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create registry dir: %w", err)
	}
	config := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), local)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(config), 0o644); err != nil {
		return "", fmt.Errorf("write registry config: %w", err)
	}
	p, err := c.StartProcess("registry", []string{c.Tools.Registry, "serve", filepath.Join(dir, "config.yml")}, nil)
	if err != nil {
		return "", err
	}
	if err := waitHTTP(ctx, p, http.DefaultClient, "http://"+local+"/v2/", "", 20*time.Second); err != nil {
		return "", err
	}
	l, err := listenOnBridge(bridgeHostIP, port)
	if err != nil {
		return "", err
	}
	c.forward(l, local)
	return l.Addr().String(), nil
}

// forwardKubernetesService serves the "kubernetes" Service's ClusterIP and
// port (443) for pods: forwarded to the apiserver.
func (c *Cluster) forwardKubernetesService() error {
	l, err := listenOnBridge(kubernetesServiceIP, 443)
	if err != nil {
		return err
	}
	c.forward(l, strings.TrimPrefix(c.Server, "https://"))
	return nil
}

// forward forwards l's connections to target until the cluster stops.
func (c *Cluster) forward(l net.Listener, target string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fwd == nil {
		c.fwd = newForwarder()
		c.onStop = append(c.onStop, c.fwd.Close)
	}
	c.fwd.forward(l, target)
}

// The host sysctls the kubelet sets at start (its "kernel tunables"). It
// changes them unless protectKernelDefaults is set, and then refuses to
// start where they differ; so we let it, and put them back on Stop.
var kubeletSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic",
	"kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

// saveSysctls records the current values, once: a file already there holds
// the values from before an earlier kubelet.
func saveSysctls(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	vals := map[string]string{}
	for _, k := range kubeletSysctls {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			vals[k] = strings.TrimSpace(string(b))
		}
	}
	data, err := json.Marshal(vals)
	if err != nil {
		return fmt.Errorf("save sysctls: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("save sysctls: %w", err)
	}
	return nil
}

// restoreSysctls writes back what saveSysctls recorded.
func restoreSysctls(path string) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore sysctls: %w", err)
	}
	vals := map[string]string{}
	if err := json.Unmarshal(data, &vals); err != nil {
		return fmt.Errorf("restore sysctls: %w", err)
	}
	var errs []string
	for k, v := range vals {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("restore sysctls: %s", strings.Join(errs, "; "))
	}
	return nil
}

// withSbin adds the sbin dirs to a PATH: runc lives in /usr/sbin, which a
// non-login root shell may lack.
func withSbin(path string) string {
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if !strings.Contains(":"+path+":", ":"+d+":") {
			path += ":" + d
		}
	}
	return strings.TrimPrefix(path, ":")
}

func uniqueSorted(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}
