package acs

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// normalizeEndpoint turns an endpoint in any form roxctl accepts into the
// base URL of Central's gateway ("https://host:port", no trailing slash):
//
//	central.stackrox.svc:443          → https://central.stackrox.svc:443
//	https://central.example.com       → https://central.example.com:443
//	https://central.example.com:8443/ → https://central.example.com:8443
//	http://127.0.0.1:8080             → http://127.0.0.1:8080 (Plaintext only)
//
// As in roxctl: without a scheme the port is required; with one it defaults
// to 443 or 80; a path other than "/" is rejected rather than guessed at (the
// gateway lives at the root, and "/v1" pasted from an API URL would double
// up). Unlike roxctl, http:// is refused unless plaintext is set, because it
// would send the bearer token unencrypted.
//
// Errors never repeat the endpoint: a URL can carry credentials.
func normalizeEndpoint(raw string, plaintext bool) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, fieldErr("Endpoint", "is empty")
	}
	explicit := strings.Contains(s, "://")
	if !explicit {
		// Give a bare host:port a scheme so one parser checks both forms.
		scheme := "https://"
		if plaintext {
			scheme = "http://"
		}
		s = scheme + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fieldErr("Endpoint", "is not host:port or an http(s):// URL")
	}
	switch u.Scheme {
	case "https":
		if plaintext {
			return nil, fieldErr("Endpoint", "has scheme https:// but Plaintext is set")
		}
	case "http":
		if !plaintext {
			return nil, fieldErr("Endpoint", "has scheme http://, which would send the token unencrypted; set Plaintext to allow it")
		}
	default:
		return nil, fieldErr("Endpoint", "has scheme "+strconv.Quote(u.Scheme)+"; use https:// (or http:// with Plaintext)")
	}
	switch {
	case u.User != nil:
		return nil, fieldErr("Endpoint", "must not contain user info; pass the token as Token")
	case u.Opaque != "":
		return nil, fieldErr("Endpoint", "is not host:port or an http(s):// URL")
	case u.Path != "" && u.Path != "/":
		return nil, fieldErr("Endpoint", "must not include a path (Central's API is at the root)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fieldErr("Endpoint", "must not include a query or fragment")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, fieldErr("Endpoint", "has no host")
	}
	if port == "" {
		if !explicit {
			return nil, fieldErr("Endpoint", "needs a port (host:port), or a scheme (https://host)")
		}
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fieldErr("Endpoint", "has a port outside 1-65535")
	}
	return &url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(host, port)}, nil
}
