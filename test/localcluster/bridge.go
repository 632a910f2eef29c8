package localcluster

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
)

// The node's network: the pods' bridge with the host on it, and the
// "kubernetes" Service's ClusterIP, the first address of the apiserver's
// --service-cluster-ip-range, as a second address of the bridge (see
// forward.go).
const (
	bridgeHostIP        = "10.244.0.1"
	bridgeHostAddr      = bridgeHostIP + "/24"
	serviceCIDR         = "10.0.0.0/24"
	kubernetesServiceIP = "10.0.0.1"
)

// podNet is the pods' subnet (podSubnet) parsed.
var podNet = func() *net.IPNet {
	_, n, err := net.ParseCIDR(podSubnet)
	if err != nil {
		panic(err)
	}
	return n
}()

// createBridge makes the pods' bridge before the first pod, with the host
// on it. Without a host address on the bridge the pod subnet has no route
// here, so the kubelet's probes and the API server's pod proxy would
// follow the default route out of the machine, to whatever answers there.
// The bridge plugin (isGateway false) reuses the bridge as it is: pods get
// no default route and the host does not forward, so pods still reach
// nothing but each other and the host (the service range routes to it).
func createBridge() error {
	ip, err := exec.LookPath("ip")
	if err != nil {
		return fmt.Errorf("the pods' bridge needs iproute2 (ip): %w", err)
	}
	deleteHarnessNetns() // leftovers of a killed run
	_ = deleteBridge()
	for _, args := range [][]string{
		{"link", "add", cniBridge, "type", "bridge"},
		{"addr", "add", bridgeHostAddr, "dev", cniBridge},
		{"addr", "add", kubernetesServiceIP + "/32", "dev", cniBridge},
		{"link", "set", cniBridge, "up"},
	} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
