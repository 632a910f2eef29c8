// Package ociregistry runs go-containerregistry's in-process OCI registry on a
// loopback port for tests, benchmarks and demos. It counts the requests that
// matter for "did the build push what it should, and only that" assertions and
// can inject blob-upload failures to exercise retry paths.
//
// Storage is go-containerregistry's in-memory blob handler: every blob lives in
// process memory for the registry's lifetime, and an upload in flight is held
// in memory again (PATCH buffer plus the committed copy) until its PUT
// completes. That registry also serialises blob uploads behind one mutex, so it
// is not a throughput benchmark target.
package ociregistry

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// faultBody is the error document returned for injected upload failures. The
// code UNKNOWN matters: go-containerregistry's client classifies a registry
// error as temporary (and retries it) only if every error code in the body is
// one of its temporary codes, and UNKNOWN is one of them.
const faultBody = `{"errors":[{"code":"UNKNOWN","message":"ociregistry: injected blob upload failure"}]}` + "\n"

// Registry is a running loopback registry. All methods are safe for
// concurrent use.
type Registry struct {
	// Host is "127.0.0.1:PORT", suitable as the registry part of a reference.
	Host string

	srv       *http.Server
	served    chan struct{}
	stop      func() // set by StartTLS
	closeOnce sync.Once

	mu           sync.Mutex
	onManifest   func(repo string)
	blobPuts     int
	blobHeads    int
	manifestPuts map[string]int
	failUploads  int
}

// Start runs a registry for the duration of a test and stops it via t.Cleanup.
func Start(t testing.TB) *Registry {
	t.Helper()
	r, err := New()
	if err != nil {
		t.Fatalf("ociregistry: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// New runs a registry until Close is called. Prefer Start in tests.
func New() (*Registry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	r := newRegistry(ln.Addr().String())
	r.srv = &http.Server{
		Handler:           r.wrap(upstream()),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() {
		defer close(r.served)
		_ = r.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return r, nil
}

func newRegistry(host string) *Registry {
	return &Registry{Host: host, served: make(chan struct{}), manifestPuts: map[string]int{}}
}

// upstream is go-containerregistry's registry. It logs every request to
// stderr; that drowns test output, so it is discarded.
func upstream() http.Handler {
	return registry.New(registry.Logger(log.New(io.Discard, "", 0)))
}

// OnManifestGet calls f (in the request, before it is served) for every
// GET or HEAD of a manifest, e.g. to change something at the moment a
// client fetches its base image. nil removes it.
func (r *Registry) OnManifestGet(f func(repo string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onManifest = f
}

// Close stops the server, dropping open connections, and waits for it to
// exit. It is idempotent.
func (r *Registry) Close() {
	r.closeOnce.Do(func() {
		if r.stop != nil {
			r.stop()
			return
		}
		_ = r.srv.Close()
		<-r.served
	})
}

// BlobPuts counts completed blob uploads: PUT .../blobs/uploads/<id>?digest=...
// requests that returned 201 Created.
func (r *Registry) BlobPuts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blobPuts
}

// BlobHeads counts HEAD /v2/<name>/blobs/<digest> requests, whatever their
// answer (200 for a blob that exists, 404 otherwise).
func (r *Registry) BlobHeads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blobHeads
}

// ManifestPuts counts PUT /v2/<repo>/manifests/<ref> requests for repo (the
// repository path without the host, e.g. "models/granite") that returned 201.
func (r *Registry) ManifestPuts(repo string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.manifestPuts[repo]
}

// Reset zeroes the counters. Stored blobs, manifests and pending injected
// failures are kept.
func (r *Registry) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobPuts, r.blobHeads = 0, 0
	r.manifestPuts = map[string]int{}
}

// FailNextBlobUploads makes the next n blob-upload requests (POST, PATCH or
// PUT under /v2/<name>/blobs/uploads/) fail with HTTP 500 and a JSON error
// body; after that, normal service resumes. n <= 0 cancels pending failures.
// A single upload is three requests with go-containerregistry's client
// (POST, PATCH, PUT), so n counts requests, not blobs.
func (r *Registry) FailNextBlobUploads(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failUploads = max(n, 0)
}

// Tags lists repo's tags through GET /v2/<repo>/tags/list. An unknown repo is
// an error (the registry answers 404 NAME_UNKNOWN).
func (r *Registry) Tags(repo string) ([]string, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + r.Host + "/v2/" + repo + "/tags/list")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("tags/list %s: HTTP %d: %s", repo, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("tags/list %s: %w", repo, err)
	}
	return list.Tags, nil
}

// wrap puts fault injection in front of the registry and counts its answers.
func (r *Registry) wrap(inner http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		kind, repo := classify(req.URL.Path)
		isUpload := kind == pathUpload &&
			(req.Method == http.MethodPost || req.Method == http.MethodPatch || req.Method == http.MethodPut)
		if isUpload && r.takeFault() {
			// Read the body first so the client always sees the 500 rather
			// than, depending on timing, a reset connection mid-upload.
			_, _ = io.Copy(io.Discard, req.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, faultBody)
			return
		}

		if kind == pathManifest && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
			r.mu.Lock()
			f := r.onManifest
			r.mu.Unlock()
			if f != nil {
				f(repo)
			}
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		inner.ServeHTTP(rec, req)

		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case kind == pathBlob && req.Method == http.MethodHead:
			r.blobHeads++
		case isUpload && req.Method == http.MethodPut && rec.status == http.StatusCreated:
			r.blobPuts++
		case kind == pathManifest && req.Method == http.MethodPut && rec.status == http.StatusCreated:
			r.manifestPuts[repo]++
		}
	})
}

func (r *Registry) takeFault() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failUploads == 0 {
		return false
	}
	r.failUploads--
	return true
}

type pathKind int

const (
	pathOther    pathKind = iota
	pathUpload            // /v2/<name>/blobs/uploads/ and /v2/<name>/blobs/uploads/<id>
	pathBlob              // /v2/<name>/blobs/<digest>
	pathManifest          // /v2/<name>/manifests/<reference>
)

// classify parses a distribution-API path from its tail, because repository
// names may contain slashes.
func classify(p string) (pathKind, string) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return pathOther, ""
	}
	e := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	n := len(e)
	repo := func(k int) string { return strings.Join(e[:n-k], "/") }
	switch {
	case n >= 3 && e[n-2] == "blobs" && e[n-1] == "uploads":
		return pathUpload, repo(2)
	case n >= 4 && e[n-3] == "blobs" && e[n-2] == "uploads":
		return pathUpload, repo(3)
	case n >= 3 && e[n-2] == "blobs":
		return pathBlob, repo(2)
	case n >= 3 && e[n-2] == "manifests":
		return pathManifest, repo(2)
	}
	return pathOther, ""
}

// statusRecorder remembers the status code the registry answered with.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
