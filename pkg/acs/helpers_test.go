package acs

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testToken is long and distinctive so a leak is easy to grep for.
const testToken = "tok-S3CRET-0a1b2c3d4e5f-never-print-me"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newTestClient returns a plaintext Client for srv with retries that wait
// milliseconds, not seconds.
func newTestClient(t testing.TB, url string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Endpoint:       url,
		Plaintext:      true,
		Token:          testToken,
		RetryBaseDelay: time.Millisecond,
		RetryMaxDelay:  5 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// reply is one canned answer.
type reply struct {
	status int
	ctype  string
	body   string
	header map[string]string
}

func jsonReply(status int, body []byte) reply {
	return reply{status: status, ctype: "application/json", body: string(body)}
}

// seqServer answers with replies in order (repeating the last) and records
// every request.
type seqServer struct {
	*httptest.Server
	mu      sync.Mutex
	replies []reply
	reqs    []recorded
}

type recorded struct {
	method, path, query, auth, ctype, accept, agent string
	body                                            map[string]any
}

func newSeqServer(t testing.TB, replies ...reply) *seqServer {
	t.Helper()
	s := &seqServer{replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *seqServer) serve(w http.ResponseWriter, r *http.Request) {
	rec := recorded{
		method: r.Method, path: r.URL.Path, query: r.URL.RawQuery,
		auth: r.Header.Get("Authorization"), ctype: r.Header.Get("Content-Type"),
		accept: r.Header.Get("Accept"), agent: r.Header.Get("User-Agent"),
	}
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		_ = json.Unmarshal(b, &rec.body)
	}
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, rec)
	rp := s.replies[min(n, len(s.replies)-1)]
	s.mu.Unlock()
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	if rp.ctype != "" {
		w.Header().Set("Content-Type", rp.ctype)
	}
	w.WriteHeader(rp.status)
	_, _ = io.WriteString(w, rp.body)
}

func (s *seqServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func assertNoToken(t testing.TB, what, s string) {
	t.Helper()
	if strings.Contains(s, testToken) || strings.Contains(s, "S3CRET") {
		t.Errorf("%s leaks the token: %s", what, s)
	}
}
