// Package registry bounds what modelguard reads from OCI registries. A
// registry is a peer like Central: whoever controls the base image's
// registry, or the one holding an image's signatures, chooses the size of
// every answer. go-containerregistry reads manifests into memory up to
// 100 MiB each, and config blobs and cosign's signature payloads up to
// whatever size the manifest claims; the transport here caps each
// manifest, each blob read whole, and all the bytes one operation reads,
// so a hostile registry costs a failed build or check with an error
// naming the limit, never the process's memory.
package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Bounds are the limits of one operation's registry reads; zero means
// "no limit" for that kind of read.
type Bounds struct {
	// MaxManifestBytes caps one manifest, index or referrers answer.
	MaxManifestBytes int64
	// MaxBlobBytes caps one blob (for callers whose blobs are all read
	// into memory: signatures, attestations, configs).
	MaxBlobBytes int64
	// MaxTotalBytes caps every body the operation reads, together.
	MaxTotalBytes int64
}

// MaxManifestBytes is what the OCI distribution spec asks registries to
// accept at least, and what common registries (distribution, Quay, ECR)
// refuse to store past: a manifest beyond it is not one a registry made.
const MaxManifestBytes = 4 << 20

// MaxConfigBytes caps an image config read into memory (a base image's).
const MaxConfigBytes = 8 << 20

// ErrTooLarge matches (errors.Is) a registry answer past its Bounds.
var ErrTooLarge = errors.New("registry answer too large")

type tooLargeError struct {
	what  string
	limit string
	max   int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the registry's %s is larger than %d bytes (%s): refused unread", e.what, e.max, e.limit)
}

func (e *tooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Transport wraps inner (go-containerregistry's default transport when
// nil) so that response bodies stay within b. Use one per operation:
// MaxTotalBytes counts across every request made through it.
func Transport(inner http.RoundTripper, b Bounds) *Bounded {
	if inner == nil {
		inner = remote.DefaultTransport
	}
	return &Bounded{inner: inner, b: b}
}

// Option is remote.WithTransport(Transport(nil, b)): put it before a
// caller's own options, which may replace the transport (and then the
// bounds) on purpose.
func Option(b Bounds) remote.Option { return remote.WithTransport(Transport(nil, b)) }

// Bounded is an http.RoundTripper that keeps answers within Bounds.
type Bounded struct {
	inner   http.RoundTripper
	b       Bounds
	total   atomic.Int64
	refused atomic.Pointer[tooLargeError]
}

// Refused is the first answer this transport refused, or nil: libraries
// such as cosign fold errors into their own, so a caller asks here
// whether the registry, not the signature, was the problem.
func (t *Bounded) Refused() error {
	if e := t.refused.Load(); e != nil {
		return e
	}
	return nil
}

func (t *Bounded) refuse(e *tooLargeError) error {
	t.refused.CompareAndSwap(nil, e)
	return e
}

func (t *Bounded) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(req)
	if err != nil || resp.Body == nil || req.Method == http.MethodHead {
		return resp, err
	}
	what, max, limit := t.limitFor(req.URL.Path)
	if max > 0 && resp.ContentLength > max {
		_ = resp.Body.Close()
		return nil, t.refuse(&tooLargeError{what: what, limit: limit, max: max})
	}
	resp.Body = &cappedBody{rc: resp.Body, t: t, what: what, max: max, limit: limit}
	return resp, nil
}

// limitFor names a request's answer and its own cap, from the
// distribution API's paths (/v2/<name>/manifests/<ref>, …/blobs/<digest>,
// …/referrers/<digest>).
func (t *Bounded) limitFor(path string) (what string, max int64, limit string) {
	switch {
	case strings.Contains(path, "/manifests/"), strings.Contains(path, "/referrers/"):
		return "manifest " + short(path), t.b.MaxManifestBytes, "MaxManifestBytes"
	case strings.Contains(path, "/blobs/"):
		return "blob " + short(path), t.b.MaxBlobBytes, "MaxBlobBytes"
	}
	return "answer to " + short(path), 0, ""
}

func short(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

// cappedBody fails a read past its own cap or the operation's total: the
// limit shows as an error, never as a clean end of a truncated document.
type cappedBody struct {
	rc        io.ReadCloser
	t         *Bounded
	what      string
	read, max int64
	limit     string
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.max > 0 && int64(len(p)) > c.max-c.read+1 {
		p = p[:c.max-c.read+1] // one byte past the cap tells "at" from "over"
	}
	n, err := c.rc.Read(p)
	c.read += int64(n)
	if c.max > 0 && c.read > c.max {
		return 0, c.t.refuse(&tooLargeError{what: c.what, limit: c.limit, max: c.max})
	}
	if tb := c.t.b.MaxTotalBytes; tb > 0 && c.t.total.Add(int64(n)) > tb {
		return 0, c.t.refuse(&tooLargeError{what: "answers to one operation, in all,", limit: "MaxTotalBytes", max: tb})
	}
	return n, err
}

func (c *cappedBody) Close() error { return c.rc.Close() }
