package localcluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// nodePaths are the files and dirs of a node, all under <Dir>/node, so Stop
// finds (and unmounts, and removes) everything the node left there.
type nodePaths struct {
	dir             string
	containerdRoot  string
	containerdState string
	containerdSock  string
	containerdConf  string
	runcRoot        string
	cniConfDir      string
	cniDataDir      string // host-local IPAM's allocations
	kubeletRoot     string
	kubeletCerts    string
	kubeletConf     string
	podLogs         string
	sysctls         string // host sysctls before the kubelet changed them
	containerIDs    string // the node's containers, listed as it stops
	// cniNetwork names the CNI network; it is unique per cluster dir, so
	// libcni's cache files of this cluster can be told apart from others'.
	cniNetwork string
}

// The bridge every pod of a node is attached to, and the pods' subnet. Only
// one node runs on a machine at a time (the Tekton controller's fixed port
// 8080 already allows just one cluster), so a fixed name is safe.
const (
	cniBridge = "mgcni0"
	podSubnet = "10.244.0.0/24"
	// The addresses host-local gives pods; harnessNetnsBase and up are
	// the harness's own network namespaces (netnsproc.go).
	podRangeStart    = "10.244.0.10"
	podRangeEnd      = "10.244.0.199"
	harnessNetnsBase = 200
	// nodeName is also the node's address; see startKubelet.
	nodeName = "127.0.0.1"
)

func nodePathsIn(clusterDir string) nodePaths {
	d := filepath.Join(clusterDir, "node")
	sum := sha256.Sum256([]byte(clusterDir))
	return nodePaths{
		dir:             d,
		containerdRoot:  filepath.Join(d, "containerd", "root"),
		containerdState: filepath.Join(d, "containerd", "state"),
		containerdSock:  filepath.Join(d, "containerd", "containerd.sock"),
		containerdConf:  filepath.Join(d, "containerd", "config.toml"),
		runcRoot:        filepath.Join(d, "containerd", "runc"),
		cniConfDir:      filepath.Join(d, "cni", "net.d"),
		cniDataDir:      filepath.Join(d, "cni", "ipam"),
		kubeletRoot:     filepath.Join(d, "kubelet"),
		kubeletCerts:    filepath.Join(d, "kubelet-pki"),
		kubeletConf:     filepath.Join(d, "kubelet-config.yaml"),
		podLogs:         filepath.Join(d, "pod-logs"),
		sysctls:         filepath.Join(d, "sysctls-before.json"),
		containerIDs:    filepath.Join(d, "container-ids"),
		cniNetwork:      "modelguard-" + hex.EncodeToString(sum[:4]),
	}
}

// containerdConfig is containerd's config (version 2, containerd 1.6).
//   - restrict_oom_score_adj: some VMs refuse a negative oom_score_adj,
//     and without it every pod sandbox fails to start.
//   - netns_mounts_under_state_dir: pod network namespaces are mounted
//     under our state dir, not /var/run/netns, so Stop can find them.
//   - runc's Root: runc's container state under our dir as well.
//   - a mirror for the local registry over plain http; the sandbox image
//     comes from there, as nothing public is reachable.
//   - unused snapshotters disabled, the "opt" plugin kept out of /opt.
func containerdConfig(p nodePaths, registryHost, pauseImage string) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = %[3]q

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %[4]q
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = %[5]q
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = %[6]q
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = %[7]q
      max_conf_num = 1
    [plugins."io.containerd.grpc.v1.cri".registry.mirrors.%[8]q]
      endpoint = [%[9]q]
`, p.containerdRoot, p.containerdState, p.containerdSock, filepath.Join(p.dir, "containerd", "opt"),
		pauseImage, p.runcRoot, p.cniConfDir, registryHost, "http://"+registryHost)
}

// cniConfig is the pods' network: a bridge without a gateway or masquerade
// (pods reach each other, nothing outside the node, and the host's routing
// and firewall stay as they were), one route, the service range via the
// host (see forward.go), host-local IPAM keeping its allocations under our
// dir and handing out .10-.199 (the rest is the harness's: the host is
// .1, harness namespaces take .200 and up), and portmap for hostPort.
func cniConfig(p nodePaths) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q, "rangeStart": %q, "rangeEnd": %q, "gateway": %q}]],
        "routes": [{"dst": %q, "gw": %q}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, p.cniNetwork, cniBridge, p.cniDataDir, podSubnet, podRangeStart, podRangeEnd, bridgeHostIP, serviceCIDR, bridgeHostIP)
}

// kubeletConfig is the KubeletConfiguration of the node.
//   - cgroupfs, no QoS cgroups, no node allocatable enforcement, cgroup v1
//     allowed: this works on hybrid cgroup hosts without systemd.
//   - anonymous access with AlwaysAllow, safe only because the kubelet
//     listens on loopback: the apiserver reaches it for `kubectl logs`
//     without a client certificate.
//   - eviction and image GC thresholds near zero: a test machine's full
//     disk must not evict test pods or delete the images they need.
func kubeletConfig(p nodePaths, port, healthzPort int) string {
	return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: ` + strconv.Itoa(port) + `
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ` + strconv.Itoa(healthzPort) + `
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://` + p.containerdSock + `
podLogsDir: ` + p.podLogs + `
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
`
}

// writeNodeConfigs writes containerd's, the CNI's and the kubelet's config.
func writeNodeConfigs(p nodePaths, registryHost, pauseImage string, kubeletPort, healthzPort int) error {
	for _, d := range []string{p.containerdRoot, p.containerdState, p.runcRoot, p.cniConfDir, p.cniDataDir, p.kubeletRoot, p.kubeletCerts, p.podLogs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create node dir: %w", err)
		}
	}
	files := map[string]string{
		p.containerdConf: containerdConfig(p, registryHost, pauseImage),
		filepath.Join(p.cniConfDir, "10-modelguard.conflist"): cniConfig(p),
		p.kubeletConf: kubeletConfig(p, kubeletPort, healthzPort),
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Base(path), err)
		}
	}
	return nil
}
