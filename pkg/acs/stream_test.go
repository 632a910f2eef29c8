package acs

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// component returns one ~1 KiB component in gateway JSON.
func component(i int) string {
	return fmt.Sprintf(`{"name":"pkg-%d","version":"1.%d","license":null,"vulns":[{"cve":"CVE-2026-%05d",`+
		`"cvss":7.5,"summary":%q,"link":"https://example.com/CVE-2026-%05d","fixedBy":"1.%d.1",`+
		`"severity":"IMPORTANT_VULNERABILITY_SEVERITY","state":"OBSERVED","cvssMetrics":[],"nvdCvss":7.5}],`+
		`"layerIndex":1,"priority":"0","source":"PYTHON","location":"site-packages/pkg","riskScore":1,"fixedBy":"","architecture":""}`,
		i, i, i, strings.Repeat("s", 700), i, i)
}

// acs.md §7 trap 5: a 5 MB scan is decoded as it arrives. The server holds
// back the end of the document until the client has decoded the first
// component; a client that buffered the whole body first would never get
// there.
func TestLargeResponseIsStreamed(t *testing.T) {
	const size = 5 << 20
	firstDecoded := make(chan struct{})
	var decoded atomic.Int32
	testHookElement = func(path string, i int) {
		if path == "scan.components" && decoded.Add(1) == 1 {
			close(firstDecoded)
		}
	}
	defer func() { testHookElement = nil }()

	var sent atomic.Int64
	var streamed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		write := func(s string) {
			n, _ := w.Write([]byte(s))
			sent.Add(int64(n))
		}
		write(`{"id":"sha256:` + strings.Repeat("ab", 32) + `","scan":{"scannerVersion":"4.8.3","components":[`)
		n := 0
		for sent.Load() < size {
			if n > 0 {
				write(",")
			}
			write(component(n))
			n++
			if n%256 == 0 {
				w.(http.Flusher).Flush()
			}
		}
		w.(http.Flusher).Flush()
		select {
		case <-firstDecoded:
			streamed.Store(true)
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
		write(`],"operatingSystem":"rhel:9","notes":[]},"notes":["MISSING_SIGNATURE"],"priority":"3"}`)
	}))
	defer srv.Close()

	c := newTestClient(t, srv.URL)
	img, err := c.ScanImage(context.Background(), ScanRequest{Image: digestRef})
	if err != nil {
		t.Fatal(err)
	}
	if !streamed.Load() {
		t.Error("the first component was not decoded before the body ended: the response was buffered")
	}
	if sent.Load() < size {
		t.Errorf("sent only %d bytes", sent.Load())
	}
	comps := img.Scan.Components
	if len(comps) < 4000 || int(decoded.Load()) != len(comps) || comps[len(comps)-1].Vulns[0].FixedBy == "" {
		t.Errorf("decoded %d components (hook saw %d)", len(comps), decoded.Load())
	}
	if img.Scan.OperatingSystem != "rhel:9" || len(img.Notes) != 1 {
		t.Errorf("members after the components were lost: os=%q notes=%v", img.Scan.OperatingSystem, img.Notes)
	}
	// Only what the gate reads is kept: of ~5 MiB of JSON, about 1 MiB
	// of decoded scan (the 700-byte summaries are dropped as they stream).
	if n := img.RetainedBytes(); n <= 0 || n > 2<<20 {
		t.Errorf("retained %d bytes of a %d-byte scan", n, sent.Load())
	}
}

// A body larger than MaxResponseBytes fails, and is not retried.
func TestResponseTooLarge(t *testing.T) {
	body := `{"id":"sha256:x","scan":{"components":[` + component(0) + `,` + component(1) + `]}}`
	srv := newSeqServer(t, jsonReply(200, []byte(body)))
	c := newTestClient(t, srv.URL, func(c *Config) { c.MaxResponseBytes = 1500 })
	_, err := c.ScanImage(context.Background(), ScanRequest{Image: digestRef})
	if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "larger than 1500 bytes") {
		t.Errorf("error = %v", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("requests = %d", n)
	}
	// Exactly at the limit is fine.
	c = newTestClient(t, srv.URL, func(c *Config) { c.MaxResponseBytes = int64(len(body)) })
	if _, err := c.ScanImage(context.Background(), ScanRequest{Image: digestRef}); err != nil {
		t.Errorf("body at the limit: %v", err)
	}
}

// acs.md §7 trap 1: a proxy cutting the connection mid-body shows up as an
// EOF; the call is retried.
func TestBodyCutShortIsRetried(t *testing.T) {
	var n atomic.Int32
	full := fixture(t, "scan-clean-image.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1) == 1 {
			w.Header().Set("Content-Length", fmt.Sprint(len(full)))
			_, _ = w.Write(full[:len(full)/2])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		_, _ = w.Write(full)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	img, err := c.ScanImage(context.Background(), ScanRequest{Image: digestRef})
	if err != nil || img.Scan == nil {
		t.Fatalf("ScanImage = %v", err)
	}
	if n.Load() != 2 {
		t.Errorf("requests = %d, want 2", n.Load())
	}
}

// A syntactically broken 200 is not retried.
func TestMalformedJSONNotRetried(t *testing.T) {
	srv := newSeqServer(t, jsonReply(200, []byte(`{"id": "sha256:x", "scan": {"components": [{"name": 5}]}}`)))
	c := newTestClient(t, srv.URL)
	_, err := c.ScanImage(context.Background(), ScanRequest{Image: digestRef})
	if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "malformed response") {
		t.Errorf("error = %v", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("requests = %d", n)
	}
}
