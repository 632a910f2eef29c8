package acs

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Defaults, chosen to match roxctl where roxctl has an opinion.
const (
	// DefaultTimeout bounds one attempt. roxctl's image and deployment
	// commands use 10m because scans are synchronous and a model-serving
	// image with multi-GB layers takes minutes to pull.
	DefaultTimeout = 10 * time.Minute
	// DefaultRetries is roxctl's -r default.
	DefaultRetries = 3
	// DefaultRetryBaseDelay is roxctl's -d default (3s), used here as the
	// first step of an exponential backoff.
	DefaultRetryBaseDelay = 3 * time.Second
	// DefaultRetryMaxDelay caps one backoff wait.
	DefaultRetryMaxDelay = time.Minute
	// DefaultMaxConcurrent caps requests in flight per Client. Central
	// itself runs at most 5 delegated ad-hoc scans at once by default.
	DefaultMaxConcurrent = 10
	// DefaultMaxResponseBytes bounds a response body. Central's own gRPC
	// limit is 24 MiB; the margin covers gateway JSON being larger than
	// protobuf.
	DefaultMaxResponseBytes = 64 << 20
	// DefaultUserAgent is sent unless Config.UserAgent is set.
	DefaultUserAgent = "modelguard-acs-client"
)

// Config configures a Client. The zero value of every optional field means
// "use the default". Formatting a Config with fmt (any verb) or String never
// shows the token.
type Config struct {
	// Endpoint is Central's address in any form roxctl accepts:
	// "host:port", "https://host[:port][/]" or, with Plaintext,
	// "http://host[:port]". Required.
	Endpoint string
	// Token is the API token sent as "Authorization: Bearer". Surrounding
	// whitespace is trimmed (Secrets often end in a newline). Empty means
	// anonymous, which only Ping accepts.
	Token string `json:"-"`
	// CACert is a PEM bundle trusted in addition to the system roots, e.g.
	// the StackRox CA from `roxctl central cert`.
	CACert []byte
	// InsecureSkipVerify disables TLS verification. Only for tests; it
	// cannot be combined with CACert.
	InsecureSkipVerify bool
	// ServerName overrides the TLS server name (SNI and verification), as
	// roxctl's --server-name does.
	ServerName string
	// Plaintext allows an http:// endpoint (no TLS; the token travels in
	// clear). Only for tests against a local emulator.
	Plaintext bool

	// Timeout bounds one attempt, from the moment it has a concurrency slot
	// until its response is decoded. Default DefaultTimeout.
	Timeout time.Duration
	// Retries is how many times a retryable failure is retried: 0 means
	// DefaultRetries, a negative value means never.
	Retries int
	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff with
	// jitter between attempts.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// MaxConcurrent caps requests in flight through this Client.
	MaxConcurrent int
	// MaxResponseBytes bounds a response body; a larger one is an error.
	MaxResponseBytes int64
	// UserAgent is sent with every request.
	UserAgent string

	// WrapTransport, if set, wraps the HTTP transport the Client builds
	// (for tracing or metrics). The wrapper must not log headers: they
	// carry the token.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// OnRetry, if set, is called before each backoff wait, e.g. to log or
	// count retries. Its Err never contains the token.
	OnRetry func(RetryEvent)
}

// RetryEvent describes a retry about to happen.
type RetryEvent struct {
	Op      string        // "POST /v1/images/scan"
	Attempt int           // the attempt that failed, from 1
	Delay   time.Duration // the wait before the next attempt
	Err     error         // why the attempt failed
}

// withDefaults fills the zero optional fields.
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	if c.RetryBaseDelay == 0 {
		c.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if c.RetryMaxDelay == 0 {
		c.RetryMaxDelay = DefaultRetryMaxDelay
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	return c
}

// String describes the Config for logs, with the token redacted.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("acs.Config{Endpoint: " + quote(redactUserinfo(c.Endpoint)))
	b.WriteString(", Token: " + redacted(c.Token))
	if len(c.CACert) > 0 {
		fmt.Fprintf(&b, ", CACert: <%d bytes PEM>", len(c.CACert))
	}
	if c.InsecureSkipVerify {
		b.WriteString(", InsecureSkipVerify: true")
	}
	if c.ServerName != "" {
		b.WriteString(", ServerName: " + quote(c.ServerName))
	}
	if c.Plaintext {
		b.WriteString(", Plaintext: true")
	}
	for _, f := range []struct {
		name string
		set  bool
		val  any
	}{
		{"Timeout", c.Timeout != 0, c.Timeout},
		{"Retries", c.Retries != 0, c.Retries},
		{"RetryBaseDelay", c.RetryBaseDelay != 0, c.RetryBaseDelay},
		{"RetryMaxDelay", c.RetryMaxDelay != 0, c.RetryMaxDelay},
		{"MaxConcurrent", c.MaxConcurrent != 0, c.MaxConcurrent},
		{"MaxResponseBytes", c.MaxResponseBytes != 0, c.MaxResponseBytes},
		{"UserAgent", c.UserAgent != "", quote(c.UserAgent)},
		{"WrapTransport", c.WrapTransport != nil, "set"},
		{"OnRetry", c.OnRetry != nil, "set"},
	} {
		if f.set {
			fmt.Fprintf(&b, ", %s: %v", f.name, f.val)
		}
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String: %#v must not reveal the token either.
func (c Config) GoString() string { return c.String() }

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, …) print String, so
// no verb falls back to printing fields by reflection.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

func redacted(secret string) string {
	if secret == "" {
		return `""`
	}
	return "[REDACTED]"
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// redactUserinfo hides "user:password@" in an endpoint. New rejects such
// endpoints, but a Config can be printed before it is validated.
func redactUserinfo(endpoint string) string {
	at := strings.LastIndexByte(endpoint, '@')
	if at < 0 {
		return endpoint
	}
	start := 0
	if i := strings.Index(endpoint, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return endpoint[:start] + "[REDACTED]" + endpoint[at:]
}
