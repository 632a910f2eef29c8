package acs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gauge counts requests in flight at a server and remembers the peak.
type gauge struct{ now, peak atomic.Int32 }

func (g *gauge) enter() {
	n := g.now.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.now.Add(-1) }

// acs.md §7 trap 4: N+5 concurrent calls against a slow server never have
// more than N requests in flight.
func TestConcurrencyCap(t *testing.T) {
	const limit = 3
	var g gauge
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.enter()
		defer g.leave()
		time.Sleep(50 * time.Millisecond)
		_, _ = w.Write(fixture(t, "ping-ok.json"))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, func(c *Config) { c.MaxConcurrent = limit })

	var wg sync.WaitGroup
	errs := make(chan error, limit+5)
	for range limit + 5 {
		wg.Go(func() { errs <- c.Ping(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if p := g.peak.Load(); p > limit {
		t.Errorf("peak in flight = %d, cap %d", p, limit)
	} else if p < limit {
		t.Errorf("peak in flight = %d: the calls were serialised below the cap %d", p, limit)
	}
}

// A call waiting for a slot gives up when its context ends.
func TestWaitForSlotHonoursContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = w.Write(fixture(t, "ping-ok.json"))
	}))
	defer srv.Close()
	defer close(release)
	c := newTestClient(t, srv.URL, func(c *Config) { c.MaxConcurrent = 1 })

	go func() { _ = c.Ping(context.Background()) }() // takes the only slot
	for len(c.sem) == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v", d)
	}
}

// A call backing off does not hold its slot: with a cap of 1, another call
// completes while the first waits to retry.
func TestSlotReleasedDuringBackoff(t *testing.T) {
	var metadataCalls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == pathMetadata && metadataCalls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	backingOff := make(chan struct{})
	c := newTestClient(t, srv.URL, func(c *Config) {
		c.MaxConcurrent = 1
		c.RetryBaseDelay, c.RetryMaxDelay = 2*time.Second, 2*time.Second
		c.OnRetry = func(RetryEvent) { close(backingOff) }
	})
	done := make(chan error, 1)
	go func() { _, err := c.Metadata(context.Background()); done <- err }()
	<-backingOff
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping during another call's backoff: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Metadata: %v", err)
	}
}
