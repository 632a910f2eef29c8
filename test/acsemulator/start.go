package acsemulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Server is an emulator served over HTTPS on a loopback address.
type Server struct {
	*Emulator
	// URL is "https://127.0.0.1:PORT".
	URL string
	// Endpoint is "127.0.0.1:PORT", the form roxctl's -e and ROX_ENDPOINT use.
	Endpoint string
	// CAPEM is the server's self-signed certificate in PEM. It is its own CA,
	// so a client that adds it to its roots (roxctl --ca, ROX_CA_CERT_FILE)
	// verifies the connection without skipping TLS checks.
	CAPEM []byte

	srv *httptest.Server
}

// Start serves an emulator over data for the duration of a test, on
// 127.0.0.1 with a fresh certificate, and stops it in t.Cleanup.
func Start(t testing.TB, data Data, token string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("acsemulator: %v", err)
	}
	return StartOn(t, data, token, ln)
}

// StartOn is Start on a listener the caller made, for clients that cannot
// reach this machine's loopback (pods on a local node's network). The
// listener must refuse connections from other machines, as
// test/localcluster's PodListener does: the emulator accepts a known token
// and answers with made-up verdicts. The certificate covers the
// listener's IP.
func StartOn(t testing.TB, data Data, token string, ln net.Listener) *Server {
	t.Helper()
	if err := data.Validate(); err != nil {
		ln.Close()
		t.Fatalf("acsemulator: invalid data: %v", err)
	}
	if token == "" {
		ln.Close()
		t.Fatal("acsemulator: an API token is required")
	}
	s, err := serve(New(data, token), ln)
	if err != nil {
		t.Fatalf("acsemulator: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewServer serves e over HTTPS on addr, which must be a loopback address:
// the emulator accepts a known token and answers with made-up verdicts, so
// it must never be reachable from another machine. Call Close when done.
func NewServer(e *Emulator, addr string) (*Server, error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return serve(e, ln)
}

// NewServerOn serves e over HTTPS on ln, which must refuse connections
// from other machines (test/localcluster's PodListener does), for clients
// that cannot reach loopback. Call Close when done; it closes ln.
func NewServerOn(e *Emulator, ln net.Listener) (*Server, error) { return serve(e, ln) }

func serve(e *Emulator, ln net.Listener) (*Server, error) {
	var ip net.IP
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() && !a.IP.IsUnspecified() {
		ip = a.IP
	}
	cert, certPEM, err := selfSignedCert(ip)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("generating certificate: %w", err)
	}
	srv := httptest.NewUnstartedServer(e)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	// Central serves gRPC and REST on one port, so it speaks HTTP/2 as well.
	srv.EnableHTTP2 = true
	srv.Config.ReadHeaderTimeout = 30 * time.Second
	srv.StartTLS()
	return &Server{Emulator: e, URL: srv.URL, Endpoint: ln.Addr().String(), CAPEM: certPEM, srv: srv}, nil
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close releases requests held by SetLatency, then stops the server.
func (s *Server) Close() {
	s.stop()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// CheckLoopback rejects listen addresses that are not loopback: an IP
// literal in 127.0.0.0/8 or ::1, or "localhost". An empty host (":8443")
// would listen on every interface and is rejected too.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("address %q is not loopback; the ACS emulator is a test double and only listens on 127.0.0.1, ::1 or localhost", addr)
}

// selfSignedCert makes a short-lived ECDSA certificate for the loopback
// names and extra, if any. A fresh key per server (rather than httptest's
// shared, published one) means trusting it trusts this process only.
func selfSignedCert(extra net.IP) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "acs-central-emulator (test double)", Organization: []string{"modelguard tests"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if extra != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, extra)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}
