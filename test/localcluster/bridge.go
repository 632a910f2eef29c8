package localcluster

import (
	"fmt"
	"os/exec"
	"strings"
)

// bridgeHostAddr is the host's address on the pods' bridge.
const bridgeHostAddr = "10.244.0.1/24"

// createBridge makes the pods' bridge before the first pod, with the host
// on it. Without a host address on the bridge the pod subnet has no route
// here, so the kubelet's probes and the API server's pod proxy would
// follow the default route out of the machine, to whatever answers there.
// The bridge plugin (isGateway false) reuses the bridge as it is: pods get
// no default route and the host does not forward, so pods still reach
// nothing but each other and the host.
func createBridge() error {
	ip, err := exec.LookPath("ip")
	if err != nil {
		return fmt.Errorf("the pods' bridge needs iproute2 (ip): %w", err)
	}
	_ = deleteBridge() // a leftover of a killed run
	for _, args := range [][]string{
		{"link", "add", cniBridge, "type", "bridge"},
		{"addr", "add", bridgeHostAddr, "dev", cniBridge},
		{"link", "set", cniBridge, "up"},
	} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
