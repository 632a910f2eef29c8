package acs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var digestRef = "quay.io/acme-ml/llm-gateway:0.9.2@sha256:" + strings.Repeat("19", 32)

func TestRetry503TwiceThen200(t *testing.T) {
	unavailable := jsonReply(503, []byte(`{"code":14,"message":"scanner busy","details":[],"error":"scanner busy"}`))
	srv := newSeqServer(t, unavailable, unavailable, jsonReply(200, fixture(t, "metadata-authenticated.json")))
	var events []RetryEvent
	c := newTestClient(t, srv.URL, func(c *Config) { c.OnRetry = func(e RetryEvent) { events = append(events, e) } })
	md, err := c.Metadata(context.Background())
	if err != nil || md.Version != "4.8.3" {
		t.Fatalf("Metadata = %+v, %v", md, err)
	}
	if n := len(srv.requests()); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
	if len(events) != 2 || events[0].Attempt != 1 || events[1].Attempt != 2 || events[0].Op != "GET /v1/metadata" ||
		!strings.Contains(events[0].Err.Error(), "scanner busy") {
		t.Errorf("retry events = %+v", events)
	}
}

func TestUnauthenticatedFailsAtOnce(t *testing.T) {
	srv := newSeqServer(t, jsonReply(401, fixture(t, "error-401-unauthenticated.json")))
	c := newTestClient(t, srv.URL, func(c *Config) { c.RetryBaseDelay = time.Hour })
	start := time.Now()
	_, err := c.ScanImage(context.Background(), ScanRequest{Image: digestRef})
	if !IsUnauthenticated(err) || IsRetryable(err) {
		t.Fatalf("error = %v", err)
	}
	if !strings.Contains(err.Error(), "authentication") || !strings.Contains(err.Error(), "credentials not found") {
		t.Errorf("error %q does not name authentication and carry Central's message", err)
	}
	if n := len(srv.requests()); n != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("requests = %d after %v; want 1, at once", n, time.Since(start))
	}
	assertNoToken(t, "401 error", err.Error())
}

// acs.md §7 trap 4: Central's rate limiter answers 429 with a text body.
func TestRateLimited429TextPlain(t *testing.T) {
	limited := reply{status: 429, ctype: "text/plain",
		body: `APIRateLimiter call on "/v1/images/scan" is rejected by rate limiter, please retry later.`}
	srv := newSeqServer(t, limited, jsonReply(200, fixture(t, "scan-clean-image.json")))
	c := newTestClient(t, srv.URL)
	img, err := c.ScanImage(context.Background(), ScanRequest{Image: digestRef})
	if err != nil || img.Scan == nil {
		t.Fatalf("ScanImage = %v", err)
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}

	// Rate limited for good: the last error says so and stays retryable for
	// a caller that wants to requeue.
	srv = newSeqServer(t, limited)
	c = newTestClient(t, srv.URL, func(c *Config) { c.Retries = 2 })
	_, err = c.ScanImage(context.Background(), ScanRequest{Image: digestRef})
	if !IsRateLimited(err) || !IsRetryable(err) || !strings.Contains(err.Error(), "rejected by rate limiter") ||
		!strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("error = %v", err)
	}
	if n := len(srv.requests()); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
}

// acs.md §6: do not retry 400, 401, 403, 404, nor 500s outside the list.
func TestNoRetry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply reply
	}{
		{"400 upper-case repository (trap 6)", jsonReply(400, fixture(t, "error-400-invalid-image-name.json"))},
		{"401", jsonReply(401, fixture(t, "error-401-unauthenticated.json"))},
		{"403 (trap 11)", jsonReply(403, []byte(`{"code":7,"message":"not authorized: \"READ_WRITE_ACCESS\" for \"Image\""}`))},
		{"404", jsonReply(404, fixture(t, "error-404-image-not-found.json"))},
		{"500 unknown policy category", jsonReply(500, []byte(`{"code":13,"message":"allowed categories [Nope] did not match any policy categories"}`))},
		{"500 no registry integration (trap 8)", jsonReply(500, []byte(`{"code":13,"message":"no matching image registries found: please add an image integration for registry.internal:5000"}`))},
		{"501", jsonReply(501, []byte(`{"code":12,"message":"unimplemented"}`))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSeqServer(t, tc.reply, jsonReply(200, fixture(t, "scan-clean-image.json")))
			c := newTestClient(t, srv.URL)
			_, err := c.ScanImage(context.Background(), ScanRequest{Image: digestRef})
			if err == nil || IsRetryable(err) {
				t.Errorf("error = %v, retryable %v", err, IsRetryable(err))
			}
			if n := len(srv.requests()); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
		})
	}
}

// acs.md §6 and §7 trap 2: the 500s that mean "not ready yet" are retried.
func TestRetryable500s(t *testing.T) {
	for _, body := range []string{
		string(fixture(t, "scan-error-500-missing-scan-data.json")),
		`{"code":13,"message":"image enrichment error: error getting metadata for image: quay.io/a/b:1"}`,
		`{"code":13,"message":"failed to get image manifest: MANIFEST_UNKNOWN"}`,
		`{"code":13,"message":"scanning quay.io/a/b: rpc error: context deadline exceeded"}`,
	} {
		srv := newSeqServer(t, jsonReply(500, []byte(body)), jsonReply(200, fixture(t, "scan-clean-image.json")))
		c := newTestClient(t, srv.URL)
		if _, err := c.ScanImage(context.Background(), ScanRequest{Image: digestRef}); err != nil {
			t.Errorf("%s: %v", body, err)
		}
		if n := len(srv.requests()); n != 2 {
			t.Errorf("%s: requests = %d, want 2", body, n)
		}
	}
}

// acs.md §7 trap 2: retry "scan could not be completed" a few times, then
// fail with Central's message.
func TestMissingScanDataGivesUp(t *testing.T) {
	srv := newSeqServer(t, jsonReply(500, fixture(t, "scan-error-500-missing-scan-data.json")))
	c := newTestClient(t, srv.URL, func(c *Config) { c.Retries = 2 })
	_, err := c.ScanImage(context.Background(), ScanRequest{Image: "quay.io/acme-ml/private-model:2.0.0"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != CodeInternal || !strings.Contains(err.Error(), "[MISSING_SCAN_DATA]") {
		t.Fatalf("error = %v", err)
	}
	if n := len(srv.requests()); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
}

// A connection closed before any answer is a transport error: retried.
func TestTransportErrorRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		_, _ = w.Write(fixture(t, "metadata-authenticated.json"))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	if _, err := c.Metadata(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 {
		t.Errorf("requests = %d, want 2", n.Load())
	}

	// Nothing listening: retried, then a retryable transport error.
	srv.Close()
	c = newTestClient(t, srv.URL, func(c *Config) { c.Retries = 1 })
	_, err := c.Metadata(context.Background())
	if err == nil || !IsRetryable(err) || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Errorf("error = %v", err)
	}
}

func TestCancelDuringBackoffReturnsPromptly(t *testing.T) {
	srv := newSeqServer(t, jsonReply(503, []byte(`{"code":14,"message":"down"}`)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newTestClient(t, srv.URL, func(c *Config) {
		c.RetryBaseDelay, c.RetryMaxDelay = time.Hour, time.Hour
		c.OnRetry = func(RetryEvent) { time.AfterFunc(20*time.Millisecond, cancel) }
	})
	start := time.Now()
	err := c.Ping(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "waiting to retry") || !strings.Contains(err.Error(), "503") {
		t.Errorf("error = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v", d)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("requests = %d", n)
	}
}

func TestCancelInFlightReturnsPromptly(t *testing.T) {
	serverSawCancel := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a closed connection only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		close(serverSawCancel)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ScanImage(ctx, ScanRequest{Image: digestRef})
	if !errors.Is(err, context.DeadlineExceeded) || IsRetryable(err) {
		t.Errorf("error = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v", d)
	}
	select {
	case <-serverSawCancel:
	case <-time.After(5 * time.Second):
		t.Error("the server never saw the request end")
	}
}

// acs.md §7 trap 1: an attempt that outlives Timeout is retried, and a
// digest-pinned scan is retried without force so it can hit the cache the
// first attempt filled. By tag, force is kept (trap 7: cache may be stale).
func TestAttemptTimeoutRetriesWithoutForce(t *testing.T) {
	for _, tc := range []struct {
		image     string
		wantForce bool
		first     func(w http.ResponseWriter, r *http.Request)
	}{
		{digestRef, false, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{"quay.io/acme-ml/llm-gateway:0.9.2", true, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{digestRef, false, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGatewayTimeout) }},
	} {
		srv := newSeqServer(t, jsonReply(200, fixture(t, "scan-clean-image.json")))
		var n atomic.Int32
		inner := srv.Config.Handler
		srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				srv.serve(httptest.NewRecorder(), r) // record the request only
				tc.first(w, r)
				return
			}
			inner.ServeHTTP(w, r)
		})
		c := newTestClient(t, srv.URL, func(c *Config) { c.Timeout = 100 * time.Millisecond })
		if _, err := c.ScanImage(context.Background(), ScanRequest{Image: tc.image, Force: true}); err != nil {
			t.Fatalf("%s: %v", tc.image, err)
		}
		reqs := srv.requests()
		if len(reqs) != 2 || reqs[0].body["force"] != true {
			t.Fatalf("%s: requests = %+v", tc.image, reqs)
		}
		if got := reqs[1].body["force"] == true; got != tc.wantForce {
			t.Errorf("%s: retry force = %v, want %v", tc.image, got, tc.wantForce)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{cfg: Config{RetryBaseDelay: 100 * time.Millisecond, RetryMaxDelay: time.Second}}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond,
		3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 60: time.Second} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := c.backoff(attempt, errors.New("x"))
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("attempt %d: no jitter", attempt)
		}
	}
	// Retry-After wins when longer, within the cap.
	if d := c.backoff(1, &APIError{Status: 429, RetryAfter: 700 * time.Millisecond}); d != 700*time.Millisecond {
		t.Errorf("Retry-After: %v", d)
	}
	if d := c.backoff(1, &APIError{Status: 429, RetryAfter: time.Hour}); d != time.Second {
		t.Errorf("Retry-After over the cap: %v", d)
	}
	if parseRetryAfter("3") != 3*time.Second || parseRetryAfter("soon") != 0 {
		t.Error("parseRetryAfter")
	}
}
