package modelcar

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// dialFunc opens the connection a body is written to directly.
type dialFunc func(ctx context.Context) (net.Conn, error)

// direct says whether a request body to u can be written on a connection
// of our own, and how to open it. net/http copies a request body through
// its own buffers, which would cost a copy of every byte in user space and
// rule out sendfile; so when the transport is a plain *http.Transport with
// no proxy for u and no custom TLS dialer, the request is written by hand
// on a connection dialled the way that transport would: a plain TCP socket
// for http (file contents by sendfile), TLS with the transport's
// configuration for https (encrypted straight from the mapped file).
func (r *registry) direct(u *url.URL) (dialFunc, bool) {
	t, ok := r.transport.(*http.Transport)
	if !ok || t.DialTLSContext != nil || t.DialTLS != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, false
	}
	if t.Proxy != nil {
		if p, err := t.Proxy(&http.Request{URL: u}); err != nil || p != nil {
			return nil, false
		}
	}
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if u.Scheme == "http" {
		return func(ctx context.Context) (net.Conn, error) { return dial(ctx, "tcp", addr) }, true
	}
	cfg := &tls.Config{}
	if t.TLSClientConfig != nil {
		cfg = t.TLSClientConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	cfg.NextProtos = []string{"http/1.1"}
	return func(ctx context.Context) (net.Conn, error) {
		raw, err := dial(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		conn := tls.Client(raw, cfg)
		if err := conn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return conn, nil
	}, true
}

// sendDirect writes one HTTP/1.1 request with the layer as its body on a
// connection of its own, and reads the answer. The connection is closed
// afterwards (and when ctx ends).
func (r *registry) sendDirect(ctx context.Context, dial dialFunc, method string, u *url.URL, l *tarLayer, d *digester, ok ...int) (location string, retry bool, err error) {
	conn, err := dial(ctx)
	if err != nil {
		return "", ctx.Err() == nil, fmt.Errorf("%s %s: %w", method, redact(u.String()), err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, u.RequestURI(), u.Host)
	h := http.Header{}
	h.Set("User-Agent", "modelguard")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(l.size, 10))
	h.Set("Connection", "close")
	if a := r.auth.header(u); a != "" {
		h.Set("Authorization", a)
	}
	if err := h.Write(&head); err != nil {
		return "", false, err
	}
	head.WriteString("\r\n")
	_, werr := conn.Write(head.Bytes())
	if werr == nil {
		werr = l.emit(conn, d)
	}
	var fe *fileError
	if errors.As(werr, &fe) {
		return "", false, werr
	}
	// A registry may answer before it read the whole body (a refusal):
	// its answer says more than the broken pipe.
	resp, rerr := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method, URL: u})
	if rerr != nil {
		if werr == nil {
			werr = rerr
		}
		return "", ctx.Err() == nil, fmt.Errorf("%s %s: %w", method, redact(u.String()), werr)
	}
	defer resp.Body.Close()
	return answer(method, u, resp, ok...)
}
