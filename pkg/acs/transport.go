package acs

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"time"
)

// newHTTPClient builds the HTTP client for cfg (already defaulted and with
// its endpoint checked).
func newHTTPClient(cfg Config) (*http.Client, error) {
	if cfg.Plaintext {
		switch {
		case len(cfg.CACert) > 0:
			return nil, fieldErr("CACert", "is set but Plaintext disables TLS")
		case cfg.InsecureSkipVerify:
			return nil, fieldErr("InsecureSkipVerify", "is set but Plaintext disables TLS")
		case cfg.ServerName != "":
			return nil, fieldErr("ServerName", "is set but Plaintext disables TLS")
		}
	}
	if cfg.InsecureSkipVerify && len(cfg.CACert) > 0 {
		// Both set usually means a Secret was filled in by two people; say
		// so rather than silently ignore the CA.
		return nil, fieldErr("InsecureSkipVerify", "cannot be combined with CACert")
	}

	tlsCfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         cfg.ServerName,
		InsecureSkipVerify: cfg.InsecureSkipVerify, // explicit opt-in only
	}
	if len(cfg.CACert) > 0 {
		certs, err := parsePEMCerts(cfg.CACert)
		if err != nil {
			return nil, fieldErr("CACert", err.Error())
		}
		// The bundle adds to the system roots: Central behind a Route may
		// present a public certificate while the in-cluster service
		// presents the StackRox CA's, and one Config should reach both.
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
		tlsCfg.RootCAs = pool
	}

	// Built here rather than cloned from http.DefaultTransport, which other
	// code may have replaced. The settings are the standard library's
	// defaults: proxy from the environment, dial and TLS handshake timeouts,
	// HTTP/2. Compression stays on, so Go asks for gzip and inflates
	// transparently, which shrinks a multi-MB scan a lot.
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   cfg.MaxConcurrent,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tlsCfg,
	}

	var rt http.RoundTripper = t
	if cfg.WrapTransport != nil {
		rt = cfg.WrapTransport(rt)
		if rt == nil {
			return nil, fieldErr("WrapTransport", "returned nil")
		}
	}
	return &http.Client{
		Transport: rt,
		// Never follow redirects: the token belongs to the configured
		// endpoint only, and Central's API does not redirect. A 3xx becomes
		// an APIError naming the problem (typically a login page in front).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
