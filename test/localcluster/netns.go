package localcluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// A pod on the node's bridge cannot reach the cluster's services: they
// listen on the host's loopback only, and there is no kube-proxy. A
// hostNetwork pod could, but it would share the host's ports, and knative
// controllers (Tekton's and Chains') all bind the fixed probe port :8080.
// So for a pod that must talk to the apiserver or the registry, the
// harness plays kube-proxy: it listens on 127.0.0.1:<port> inside the pod's
// network namespace and forwards each connection to the same port on the
// host's loopback. Inside the pod, 127.0.0.1:<port> then means what it
// means outside (the apiserver's certificate is valid for 127.0.0.1, and
// image references name the registry by that address).

// podForwarder forwards ports from a pod's network namespace to the host.
type podForwarder struct {
	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// forwardIntoNetns listens on 127.0.0.1:<port> for every port inside the
// network namespace of process pid, forwarding to 127.0.0.1:<port> here.
func forwardIntoNetns(pid int, ports []int) (*podForwarder, error) {
	listeners, err := listenInNetns("/proc/"+strconv.Itoa(pid)+"/ns/net", ports)
	if err != nil {
		return nil, err
	}
	f := &podForwarder{listeners: listeners, conns: map[net.Conn]struct{}{}}
	for i, l := range listeners {
		target := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))
		f.wg.Go(func() { f.serve(l, func() string { return target }) })
	}
	return f, nil
}

// forwardToPod is the other way round, for the API server's calls to a
// webhook in a pod: it listens on 127.0.0.1 (a free port) here and
// forwards each connection to the pod's address on the node's bridge,
// once known (until then connections are refused). It returns the
// forwarder and the port.
func forwardToPod(to *podAddress) (*podForwarder, int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	f := &podForwarder{listeners: []net.Listener{l}, conns: map[net.Conn]struct{}{}}
	f.wg.Go(func() { f.serve(l, to.get) })
	return f, l.Addr().(*net.TCPAddr).Port, nil
}

// podAddress is a pod's host:port, set once the pod runs.
type podAddress struct {
	mu   sync.Mutex
	addr string
}

func (a *podAddress) set(s string) { a.mu.Lock(); a.addr = s; a.mu.Unlock() }

func (a *podAddress) get() string { a.mu.Lock(); defer a.mu.Unlock(); return a.addr }

// listenInNetns opens the listeners on a thread that has joined the
// namespace; a socket stays in the namespace it was created in, so the
// listeners work from any thread afterwards. The thread goes back to its
// own namespace, or, if it cannot, is thrown away by exiting its goroutine
// while still locked: no other goroutine ever runs in the pod's namespace.
func listenInNetns(nsPath string, ports []int) ([]net.Listener, error) {
	type result struct {
		ls  []net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ls, restored, err := listenInNetnsLocked(nsPath, ports)
		if restored {
			runtime.UnlockOSThread()
		}
		ch <- result{ls, err}
	}()
	r := <-ch
	return r.ls, r.err
}

func listenInNetnsLocked(nsPath string, ports []int) (_ []net.Listener, restored bool, _ error) {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, true, fmt.Errorf("open own network namespace: %w", err)
	}
	defer self.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, true, fmt.Errorf("open pod network namespace: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("enter pod network namespace: %w", err)
	}
	var ls []net.Listener
	var lerr error
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			lerr = fmt.Errorf("listen in pod network namespace: %w", err)
			break
		}
		ls = append(ls, l)
	}
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		lerr = errors.Join(lerr, fmt.Errorf("leave pod network namespace: %w", err))
		restored = false
	} else {
		restored = true
	}
	if lerr != nil {
		for _, l := range ls {
			l.Close()
		}
		return nil, restored, lerr
	}
	return ls, restored, nil
}

func (f *podForwarder) serve(l net.Listener, target func() string) {
	for {
		in, err := l.Accept()
		if err != nil {
			return // closed
		}
		out, err := net.Dial("tcp", target())
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

func (f *podForwarder) track(cs ...net.Conn) bool {
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

func (f *podForwarder) untrack(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		delete(f.conns, c)
	}
}

// Close stops listening, cuts every forwarded connection and waits for the
// forwarding goroutines.
func (f *podForwarder) Close() {
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
