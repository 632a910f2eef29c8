package localcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Some upstream binaries run as host processes in a network namespace of
// their own (StartIsolated): they bind fixed ports, so they cannot share
// the host's. The harness then plays kube-proxy for them: it listens on
// 127.0.0.1:<port> inside the namespace and forwards each connection to
// the same port on the host's loopback, where the apiserver and the
// registry are (the apiserver's certificate is valid for 127.0.0.1).

// forwardIntoNetns listens on 127.0.0.1:<port> for every port inside the
// network namespace of process pid, forwarding to 127.0.0.1:<port> here.
func forwardIntoNetns(pid int, ports []int) (*forwarder, error) {
	listeners, err := listenInNetns("/proc/"+strconv.Itoa(pid)+"/ns/net", ports)
	if err != nil {
		return nil, err
	}
	f := newForwarder()
	for i, l := range listeners {
		f.forward(l, net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])))
	}
	return f, nil
}

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
