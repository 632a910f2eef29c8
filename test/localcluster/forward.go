package localcluster

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
)

// Pods reach the harness's services the way pods of a real cluster reach
// theirs, but without kube-proxy: the harness listens on addresses of the
// node's bridge and forwards to the services' loopback ports.
//   - The "kubernetes" Service: its ClusterIP (kubernetesServiceIP) is an
//     address of the bridge and pods route the service range to the host,
//     so in-cluster config (KUBERNETES_SERVICE_HOST/PORT, which the kubelet
//     sets from that Service) reaches the apiserver, whose certificate
//     covers the ClusterIP, as in any cluster.
//   - The registry, the ACS emulator and other test servers: on the
//     bridge's host address (bridgeHostIP), one name for the host and pods.
//
// Every listener here refuses connections from outside this machine: an
// address of the bridge is, to the kernel, an address of the host, and a
// peer on the host's network that routed the pod subnet here could reach
// it. The registry has no authentication, and the ACS emulator answers
// made-up verdicts.

// fromNode reports whether a connection from addr comes from this machine:
// loopback, a pod or harness namespace on the bridge, or the host itself
// through one of the bridge's addresses.
func fromNode(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	return tcp.IP.IsLoopback() || podNet.Contains(tcp.IP) || tcp.IP.Equal(net.ParseIP(kubernetesServiceIP))
}

// nodeListener is a listener that closes every connection not fromNode.
type nodeListener struct{ net.Listener }

func (l nodeListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if fromNode(c.RemoteAddr()) {
			return c, nil
		}
		c.Close()
	}
}

// listenOnBridge listens on ip:port (an address of the node's bridge; port
// 0 picks one), accepting only connections fromNode.
func listenOnBridge(ip string, port int) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("listen on the node's bridge: %w", err)
	}
	return nodeListener{l}, nil
}

// PodListener returns a listener on the bridge's host address, for a test
// server that pods must reach (PodHost is its host); it refuses
// connections from outside this machine. The caller closes it. The
// cluster must have a node.
func (c *Cluster) PodListener() (net.Listener, error) {
	if !c.node {
		return nil, fmt.Errorf("pod listener: the cluster has no node (Config.Node)")
	}
	return listenOnBridge(bridgeHostIP, 0)
}

// PodHost is the host's address as pods see it: the node's bridge address,
// where the registry and PodListener's servers are.
func (c *Cluster) PodHost() string { return bridgeHostIP }

// forwarder copies connections from its listeners to their targets.
type forwarder struct {
	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

func newForwarder() *forwarder { return &forwarder{conns: map[net.Conn]struct{}{}} }

// forward serves l, copying each connection to target (host:port).
func (f *forwarder) forward(l net.Listener, target string) {
	f.forwardTo(l, func() string { return target })
}

// forwardTo serves l, copying each connection to what target returns at
// the time; while it returns "", connections are refused.
func (f *forwarder) forwardTo(l net.Listener, target func() string) {
	f.mu.Lock()
	f.listeners = append(f.listeners, l)
	f.mu.Unlock()
	f.wg.Go(func() { f.serve(l, target) })
}

func (f *forwarder) serve(l net.Listener, target func() string) {
	for {
		in, err := l.Accept()
		if err != nil {
			return // closed
		}
		to := target()
		if to == "" {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", to)
		if err != nil {
			in.Close()
			continue
		}
		if !f.track(in, out) {
			return
		}
		f.wg.Go(func() {
			pipe(in, out)
			f.untrack(in, out)
		})
	}
}

// pipe copies both ways until either side closes, then closes both.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	a.Close()
	b.Close()
	<-done
}

func (f *forwarder) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *forwarder) untrack(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		delete(f.conns, c)
	}
}

// Close stops listening, cuts every forwarded connection and waits for the
// forwarding goroutines.
func (f *forwarder) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	for _, l := range f.listeners {
		l.Close()
	}
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
