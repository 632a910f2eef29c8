package acsemulator

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFailNextThenRecover(t *testing.T) {
	s := startExample(t)
	s.FailNext("/v1/images/scan", 2, http.StatusServiceUnavailable, "", ErrorBody(14, "upstream unavailable"))
	for i := 0; i < 2; i++ {
		r := scan(t, s, cleanImageName, false)
		if r.status != 503 || r.header.Get("Content-Type") != "application/json" || r.obj(t)["code"] != 14.0 {
			t.Fatalf("call %d = %d %s", i, r.status, r.raw)
		}
	}
	if r := scan(t, s, cleanImageName, false); r.status != 200 {
		t.Fatalf("third call = %d %s", r.status, r.raw)
	}
	if n := s.Calls("/v1/images/scan"); n != 3 {
		t.Errorf("Calls = %d, want 3", n)
	}
	if n := s.Calls("/v1/detect/build"); n != 0 {
		t.Errorf("Calls(detect) = %d, want 0", n)
	}
}

func TestRateLimitIsPlainText(t *testing.T) {
	s := startExample(t)
	s.RateLimitNext("/v1/detect/build", 1)
	r := detectBuild(t, s, map[string]any{"imageName": cleanImageName})
	if r.status != 429 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("rate limited = %d %q", r.status, r.header.Get("Content-Type"))
	}
	if want := `APIRateLimiter call on "/v1/detect/build" is rejected by rate limiter, please retry later.`; strings.TrimSpace(string(r.raw)) != want {
		t.Errorf("body = %q", r.raw)
	}
	if r := detectBuild(t, s, map[string]any{"imageName": cleanImageName}); r.status != 200 {
		t.Errorf("after the 429 = %d", r.status)
	}
}

func TestFaultsQueueInOrderAndPrecedeAuth(t *testing.T) {
	s := startExample(t)
	s.FailNext("/v1/metadata", 1, http.StatusBadGateway, "text/html", "<html>bad gateway</html>")
	s.RateLimitNext("/v1/metadata", 1)
	for _, want := range []int{502, 429, 401, 200} {
		token := testToken
		if want == 401 {
			token = "wrong"
		}
		if r := call(t, s, "GET", "/v1/metadata", token, nil); r.status != want {
			t.Errorf("status = %d, want %d", r.status, want)
		}
	}
}

func TestLatencyHonoursCancellation(t *testing.T) {
	s := startExample(t)
	s.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/v1/images/scan",
		strings.NewReader(`{"imageName":"`+cleanImageName+`"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	start := time.Now()
	_, err := s.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	// The server notices the client went away and frees the slot.
	for deadline := time.Now().Add(5 * time.Second); s.InFlight() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("InFlight = %d long after the client gave up", s.InFlight())
		}
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("cancellation took %v", el)
	}
	// Latency applies to scan/detect only, so a ping still answers at once.
	if r := call(t, s, "GET", "/v1/ping", "", nil); r.status != 200 {
		t.Errorf("ping = %d", r.status)
	}
}

func TestMaxInFlight(t *testing.T) {
	s := startExample(t)
	s.SetLatency(400 * time.Millisecond)
	run := func(clients, limit int) {
		sem := make(chan struct{}, limit)
		var wg sync.WaitGroup
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				if r := scan(t, s, cleanImageName, false); r.status != 200 {
					t.Errorf("scan = %d", r.status)
				}
			}()
		}
		wg.Wait()
	}
	run(6, 6)
	if m := s.MaxInFlight(); m != 6 {
		t.Errorf("MaxInFlight = %d with 6 concurrent clients", m)
	}
	s.ResetCounters()
	run(6, 2)
	if m := s.MaxInFlight(); m != 2 {
		t.Errorf("MaxInFlight = %d with a cap of 2", m)
	}
	if s.InFlight() != 0 || s.Calls("/v1/images/scan") != 6 {
		t.Errorf("InFlight = %d, Calls = %d", s.InFlight(), s.Calls("/v1/images/scan"))
	}
}

func TestCloseReleasesSlowRequests(t *testing.T) {
	s, err := NewServer(New(exampleData(t), testToken), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.SetLatency(time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("POST", s.URL+"/v1/detect/build", strings.NewReader(`{"imageName":"nginx"}`))
		req.Header.Set("Authorization", "Bearer "+testToken)
		if resp, err := s.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	for s.InFlight() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked on a request held by SetLatency")
	}
	<-done
}

func TestEveryResponseIsMarkedAsTestDouble(t *testing.T) {
	s := startExample(t)
	s.RateLimitNext("/v1/images/scan", 1)
	// call() fails the test if the header is missing; this walks the kinds
	// of answers: success, injected fault, auth error, 404, 501, 400, 500.
	call(t, s, "POST", "/v1/images/scan", testToken, map[string]string{"imageName": cleanImageName})
	call(t, s, "GET", "/v1/ping", "", nil)
	call(t, s, "GET", "/v1/metadata", "", nil)
	call(t, s, "GET", "/v1/nope", testToken, nil)
	call(t, s, "DELETE", "/v1/ping", "", nil)
	call(t, s, "POST", "/v1/images/scan", testToken, map[string]string{"imageName": "A"})
	call(t, s, "POST", "/v1/images/scan", testToken, map[string]string{"imageName": "quay.io/acme-ml/private-model:2.0.0"})
	call(t, s, "POST", "/v1/detect/deploy/yaml", testToken, map[string]string{"yaml": fixtureDeployYAML})
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:0", "127.1.2.3:8443", "[::1]:443", "localhost:0"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("CheckLoopback(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{":8443", "0.0.0.0:0", "[::]:0", "10.0.0.5:443", "example.com:443", "127.0.0.1"} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("CheckLoopback(%q) accepted", bad)
		}
	}
	if _, err := NewServer(New(exampleData(t), testToken), "0.0.0.0:0"); err == nil {
		t.Error("NewServer listened on a non-loopback address")
	}
}

// StreamNext sends a body of the size asked for, head and tail included,
// and valid JSON when its parts make it so; then normal answers resume.
func TestStreamNext(t *testing.T) {
	s := startExample(t)
	s.StreamNext("/v1/images/scan", 1, http.StatusOK, "", Stream{Head: `{"scan":{"components":[{"vulns":[{}`, Repeat: `,{}`, Tail: `]}]}}`, Size: 1 << 20})
	r := scan(t, s, cleanImageName, false)
	if r.status != 200 || len(r.raw) < 1<<20 || len(r.raw) > 1<<20+64<<10 || !strings.HasSuffix(string(r.raw), `,{}]}]}}`) {
		t.Fatalf("streamed %d bytes, status %d", len(r.raw), r.status)
	}
	if vulns := r.obj(t)["scan"].(map[string]any)["components"].([]any)[0].(map[string]any)["vulns"].([]any); len(vulns) < 300_000 {
		t.Errorf("%d vulnerabilities", len(vulns))
	}
	if r := scan(t, s, cleanImageName, false); r.status != 200 {
		t.Fatalf("next call = %d", r.status)
	}
}
