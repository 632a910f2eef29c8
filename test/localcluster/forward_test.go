package localcluster

import (
	"net"
	"testing"
)

// What the harness serves on the bridge answers this machine only.
func TestFromNode(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "[::1]:1": true, "10.244.0.23:1": true, "10.244.0.200:1": true,
		kubernetesServiceIP + ":1": true, "10.244.1.5:1": false, "192.0.2.7:1": false, "10.0.0.2:1": false,
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := fromNode(a); got != want {
			t.Errorf("fromNode(%s) = %v, want %v", addr, got, want)
		}
	}
}
