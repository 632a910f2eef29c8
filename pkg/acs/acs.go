// Package acs is a client for the REST gateway of Red Hat Advanced Cluster
// Security (StackRox) Central: the calls roxctl makes for `image scan`,
// `image check` and `deployment check`, plus the health and identity calls a
// controller needs before it trusts a token.
//
// The package does I/O only. It returns what Central said, typed; whether an
// image or a deployment passes is decided elsewhere (pkg/gate). In particular:
//
//   - A 200 from ScanImage whose Scan.Notes contain OS_UNAVAILABLE,
//     PARTIAL_SCAN_DATA or similar is returned as is. The notes are decoded
//     so the caller can refuse to call such a scan clean.
//   - DetectBuild does not notice missing scan data on Central's side: an
//     unscannable image is evaluated with no CVEs. Callers that gate on CVE
//     policies should run ScanImage as well.
//
// # Wire format
//
// Central's gateway marshals with protojson and EmitUnpopulated: keys are
// lowerCamelCase, enums are their names (kept here as string types with
// constants), int64/uint64 are JSON strings (see Int64 and Uint64), unset
// timestamps are null, and members of an unset oneof are left out (pointer
// fields here, nil when absent). Unknown fields are ignored, so a newer
// Central does not break an older client.
//
// # Transport
//
// A Client sends `Authorization: Bearer <token>`, verifies TLS against the
// system roots plus an optional CA bundle, and retries what is worth
// retrying: 429, 502, 503, 504, transport errors, attempt timeouts and the
// few 500s that mean "not ready yet" (image enrichment errors, manifest
// errors, upstream deadlines, "scan could not be completed"). It never retries
// 400, 401, 403, 404, other 500s, or TLS verification failures. At most
// MaxConcurrent requests are in flight per Client, and every wait (for a
// slot, for a backoff, for a response) ends as soon as the caller's context
// does. Responses are decoded from the stream; a scan of a large image is
// never read into one buffer.
//
// The API token is never part of an error, a log line or a formatted Config
// or Client.
package acs

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/modelguard/modelguard/pkg/imageref"
)

// Client calls Central's REST API. It is safe for concurrent use; at most
// Config.MaxConcurrent requests are in flight at once.
type Client struct {
	cfg  Config   // defaulted, with Token cleared: printing it cannot leak
	base *url.URL // scheme and host only
	// token is a closure, not a string: fmt and other reflection-based
	// printers render a func as an address, so even printing a Client value
	// (which bypasses Format) or a bad verb cannot reveal the secret. nil
	// means anonymous.
	token func() string
	http  *http.Client
	sem   chan struct{}
}

// Paths of the gateway endpoints this client calls.
const (
	pathPing          = "/v1/ping"
	pathMetadata      = "/v1/metadata"
	pathAuthStatus    = "/v1/auth/status"
	pathMyPermissions = "/v1/mypermissions"
	pathScanImage     = "/v1/images/scan"
	pathDetectBuild   = "/v1/detect/build"
	pathDetectDeploy  = "/v1/detect/deploy/yaml"
)

// New checks cfg and builds a Client. Errors are *ConfigError naming the
// offending field.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	switch {
	case cfg.Timeout < 0:
		return nil, fieldErr("Timeout", "is negative")
	case cfg.RetryBaseDelay < 0:
		return nil, fieldErr("RetryBaseDelay", "is negative")
	case cfg.RetryMaxDelay < 0:
		return nil, fieldErr("RetryMaxDelay", "is negative")
	case cfg.MaxConcurrent < 0:
		return nil, fieldErr("MaxConcurrent", "is negative")
	case cfg.MaxResponseBytes < 0:
		return nil, fieldErr("MaxResponseBytes", "is negative")
	}
	base, err := normalizeEndpoint(cfg.Endpoint, cfg.Plaintext)
	if err != nil {
		return nil, err
	}
	token := strings.TrimSpace(cfg.Token)
	for _, r := range token {
		// A header value cannot carry these; Go would refuse the request
		// later with a less helpful error.
		if r < 0x21 || r == 0x7f {
			return nil, fieldErr("Token", "contains whitespace or control characters")
		}
	}
	hc, err := newHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{base: base, http: hc, sem: make(chan struct{}, cfg.MaxConcurrent)}
	if token != "" {
		c.token = func() string { return token }
	}
	cfg.Token = ""
	cfg.Endpoint = base.String()
	c.cfg = cfg
	return c, nil
}

// Endpoint returns the normalised base URL, e.g. "https://central:443".
func (c *Client) Endpoint() string { return c.base.String() }

// String describes the Client for logs, without the token.
func (c *Client) String() string {
	return fmt.Sprintf("acs.Client{Endpoint: %q, Token: %s, MaxConcurrent: %d, Timeout: %v, Retries: %d}",
		c.base.String(), redacted(c.tokenValue()), c.cfg.MaxConcurrent, c.cfg.Timeout, c.cfg.Retries)
}

// GoString is String.
func (c *Client) GoString() string { return c.String() }

// Format prints String for every verb.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

func (c *Client) tokenValue() string {
	if c.token == nil {
		return ""
	}
	return c.token()
}

// CloseIdleConnections closes the client's idle connections to Central,
// e.g. when the credentials it was made with are replaced.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Ping calls GET /v1/ping. It proves that Central answers over TLS; the
// endpoint is anonymous, so it says nothing about the token (use Metadata).
func (c *Client) Ping(ctx context.Context) error {
	var out PingResponse
	return c.do(ctx, &call{method: http.MethodGet, path: pathPing, decode: jsonInto(&out)})
}

// Metadata calls GET /v1/metadata, the cheapest call that fails (401) on a
// bad token. Version is empty for anonymous callers.
func (c *Client) Metadata(ctx context.Context) (*Metadata, error) {
	out := new(Metadata)
	if err := c.do(ctx, &call{method: http.MethodGet, path: pathMetadata, decode: jsonInto(out)}); err != nil {
		return nil, err
	}
	return out, nil
}

// AuthStatus calls GET /v1/auth/status: who the token is and when it
// expires.
func (c *Client) AuthStatus(ctx context.Context) (*AuthStatus, error) {
	out := new(AuthStatus)
	if err := c.do(ctx, &call{method: http.MethodGet, path: pathAuthStatus, decode: jsonInto(out)}); err != nil {
		return nil, err
	}
	return out, nil
}

// MyPermissions calls GET /v1/mypermissions, a pre-flight check that the
// token can scan (Image READ_WRITE_ACCESS) and detect (Detection READ_ACCESS).
func (c *Client) MyPermissions(ctx context.Context) (*Permissions, error) {
	out := new(Permissions)
	if err := c.do(ctx, &call{method: http.MethodGet, path: pathMyPermissions, decode: jsonInto(out)}); err != nil {
		return nil, err
	}
	return out, nil
}

// ScanImage calls POST /v1/images/scan and returns the scanned image. The
// call is synchronous and may take minutes (Central pulls every layer).
//
// A 200 may still be an incomplete scan: check Scan for nil and Scan.Notes.
// If an attempt with Force times out (attempt timeout, 504, connection cut)
// and the image is pinned by digest, the retry is sent without Force: the
// first attempt has likely filled Central's cache for exactly that digest.
func (c *Client) ScanImage(ctx context.Context, req ScanRequest) (*Image, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	var out *Image
	cl := &call{
		method: http.MethodPost, path: pathScanImage, body: &req,
		decode: func(r io.Reader) error {
			img, err := DecodeImage(r)
			if err != nil {
				return err
			}
			out = img
			return nil
		},
		beforeRetry: dropForceAfterTimeout(&req.Force, req.Image),
	}
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return out, nil
}

// DetectBuild calls POST /v1/detect/build: the enabled BUILD policies
// evaluated against the image. Central does not fail when it has no scan
// data for the image; it evaluates no CVEs, so CVE policies pass. Run
// ScanImage as well when that matters. Force is dropped on a retry after a
// timeout as in ScanImage.
func (c *Client) DetectBuild(ctx context.Context, req BuildRequest) (*BuildDetectionResponse, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	out := new(BuildDetectionResponse)
	cl := &call{method: http.MethodPost, path: pathDetectBuild, body: &req, decode: jsonInto(out),
		beforeRetry: dropForceAfterTimeout(&req.Force, req.Image)}
	if err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return out, nil
}

// DetectDeployYAML calls POST /v1/detect/deploy/yaml: the enabled DEPLOY
// policies evaluated against the workloads in req.YAML.
func (c *Client) DetectDeployYAML(ctx context.Context, req DeployRequest) (*DeployDetectionResponse, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	out := new(DeployDetectionResponse)
	if err := c.do(ctx, &call{method: http.MethodPost, path: pathDetectDeploy, body: &req, decode: jsonInto(out)}); err != nil {
		return nil, err
	}
	return out, nil
}

// dropForceAfterTimeout: when an attempt with force timed out and the image
// is pinned by digest, the retry goes without force, because the first
// attempt has likely filled Central's cache for exactly that digest.
func dropForceAfterTimeout(force *bool, image string) func(error) {
	return func(err error) {
		if *force && isTimeout(err) && imageref.Pinned(image) {
			*force = false
		}
	}
}

// jsonInto decodes a small response into a fresh value each attempt and
// copies it to out only on success, so a failed attempt leaves no half
// value behind.
func jsonInto[T any](out *T) func(io.Reader) error {
	return func(r io.Reader) error {
		v := new(T)
		if err := decodeJSON(r, v); err != nil {
			return err
		}
		*out = *v
		return nil
	}
}
