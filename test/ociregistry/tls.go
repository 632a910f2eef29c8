package ociregistry

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// StartTLS runs the registry over HTTPS, with net/http/httptest's
// certificate (valid for example.com and 127.0.0.1), for the test's
// duration. Host is "example.com:PORT", so go-containerregistry speaks
// HTTPS to it (it would pick plain HTTP for a loopback address); the
// returned transport trusts the certificate and dials the registry for
// that name. Tags speaks plain HTTP and does not work here.
func StartTLS(t testing.TB) (*Registry, *http.Transport) {
	t.Helper()
	r := newRegistry("")
	ts := httptest.NewUnstartedServer(r.wrap(upstream()))
	ts.StartTLS()
	addr := ts.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	r.Host = "example.com:" + port
	r.stop = ts.Close
	t.Cleanup(r.Close)
	tr := ts.Client().Transport.(*http.Transport).Clone()
	dialer := &net.Dialer{}
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}
	return r, tr
}
