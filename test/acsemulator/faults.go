package acsemulator

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// fault is one queued injected response.
type fault struct {
	left        int
	status      int
	contentType string
	body        string
	// stream, when set, is a body of Size bytes written as it is made:
	// Head, then Repeat until Size is reached, then Tail.
	stream *Stream
}

// Stream is a body of any size that the emulator never holds: what a
// hostile Central (or a proxy gone wrong) could send.
type Stream struct {
	Head, Repeat, Tail string
	Size               int64
}

func (f fault) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", f.contentType)
	w.WriteHeader(f.status)
	if f.stream == nil {
		_, _ = w.Write([]byte(f.body))
		return
	}
	s := f.stream
	sent := int64(0)
	put := func(p string) bool {
		n, err := io.WriteString(w, p)
		sent += int64(n)
		return err == nil
	}
	if !put(s.Head) {
		return
	}
	// Write the repeated part in chunks of at least 32 KiB.
	chunk := strings.Repeat(s.Repeat, max(1, (32<<10)/max(len(s.Repeat), 1)))
	for sent+int64(len(s.Tail)) < s.Size && s.Repeat != "" {
		if !put(chunk) {
			return // the client went away (it refused the answer)
		}
	}
	put(s.Tail)
}

// FailNext makes the next n requests to path (e.g. "/v1/images/scan") answer
// status with body instead of being handled; an empty contentType means
// "application/json". Calls queue: FailNext(p, 2, 503, …) then
// FailNext(p, 1, 429, …) gives 503, 503, 429, then normal answers.
//
// Injected answers come before authentication and latency, because they stand
// for what sits in front of Central's handlers (its rate limiter, a router or
// load balancer). They are still counted by Calls (and InFlight for scan and
// detect paths). Use ErrorBody for a Central-style JSON body.
func (e *Emulator) FailNext(path string, n int, status int, contentType string, body string) {
	e.queue(path, fault{left: n, status: status, contentType: contentType, body: body})
}

func (e *Emulator) queue(path string, f fault) {
	if f.left <= 0 {
		return
	}
	if f.contentType == "" {
		f.contentType = "application/json"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults[path] = append(e.faults[path], f)
}

// StreamNext is FailNext with a streamed body of about body.Size bytes
// (at least Head and Tail), e.g. 64 MiB of empty vulnerabilities, which
// neither the emulator nor the test holds in memory.
func (e *Emulator) StreamNext(path string, n int, status int, contentType string, body Stream) {
	e.queue(path, fault{left: n, status: status, contentType: contentType, stream: &body})
}

// RateLimitNext makes the next n requests to path fail the way Central's API
// rate limiter does (ROX_CENTRAL_RATE_LIMIT_PER_SECOND): HTTP 429 with a
// text/plain body, not the usual JSON error, which a client must survive.
func (e *Emulator) RateLimitNext(path string, n int) {
	e.FailNext(path, n, http.StatusTooManyRequests, "text/plain; charset=utf-8",
		fmt.Sprintf("APIRateLimiter call on %q is rejected by rate limiter, please retry later.\n", path))
}

// SetLatency makes every scan and detect call (POST /v1/images/scan,
// /v1/detect/build, /v1/detect/deploy/yaml) wait d before answering, as
// Central blocks while the scanner pulls layers. The wait ends early when the
// client cancels its request, so an abandoned call does not hold a slot in
// InFlight. Zero turns latency off.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latency = d
}

// Calls reports how many requests reached path (exact URL path, without the
// query), whatever their outcome: injected faults and 401s count too.
func (e *Emulator) Calls(path string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[path]
}

// InFlight reports how many scan and detect calls are being served right now.
func (e *Emulator) InFlight() int { return int(e.inFlight.Load()) }

// MaxInFlight reports the highest InFlight seen since New or ResetCounters,
// for asserting that a client caps its concurrency.
func (e *Emulator) MaxInFlight() int { return int(e.maxIn.Load()) }

// ScanUnknownAs makes images pinned by a digest the data file does not
// list scan like img (its digest and names are replaced by the
// request's), as Central would scan any image it can pull. Tests use it
// for images they build themselves; nil restores the default, NotFound.
func (e *Emulator) ScanUnknownAs(img *Image) { e.unknown.Store(img) }

// Busy reports the time spent serving scan and detect calls since New,
// summed over calls: what a benchmark subtracts to get a client's own cost.
func (e *Emulator) Busy() time.Duration { return time.Duration(e.busy.Load()) }

// ResetCounters clears Calls and MaxInFlight (not queued faults or latency),
// so one emulator can serve several subtests.
func (e *Emulator) ResetCounters() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = map[string]int{}
	e.maxIn.Store(e.inFlight.Load())
}

func (e *Emulator) countCall(path string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[path]++
}

// takeFault pops one use of the oldest fault queued for path.
func (e *Emulator) takeFault(path string) (fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.faults[path]
	if len(q) == 0 {
		return fault{}, false
	}
	f := q[0]
	q[0].left--
	if q[0].left == 0 {
		q = q[1:]
	}
	if len(q) == 0 {
		delete(e.faults, path)
	} else {
		e.faults[path] = q
	}
	return f, true
}

// enter records one more call in flight and raises the high-water mark.
func (e *Emulator) enter() {
	n := e.inFlight.Add(1)
	for {
		m := e.maxIn.Load()
		if n <= m || e.maxIn.CompareAndSwap(m, n) {
			return
		}
	}
}

// SetRuntimeLatency makes every runtime call (deployments, alerts,
// processes, clusters) wait d before answering, as a loaded Central does;
// like SetLatency the wait ends when the client hangs up. Zero turns it off.
func (e *Emulator) SetRuntimeLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.runtimeLatency = d
}

// wait sleeps for the configured latency (of scans and detects, or of the
// runtime calls). It returns false when the client went away (nothing is
// written: nobody would read it) or the server is shutting down (answered
// 503 Unavailable).
func (e *Emulator) wait(w http.ResponseWriter, r *http.Request, runtime bool) bool {
	e.mu.Lock()
	d := e.latency
	if runtime {
		d = e.runtimeLatency
	}
	e.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-e.done:
		writeError(w, codeUnavailable, "acsemulator: server is shutting down")
		return false
	}
}

// stop releases every request waiting in SetLatency's sleep, so that shutting
// the server down does not wait out a long injected latency.
func (e *Emulator) stop() {
	e.stopOnce.Do(func() { close(e.done) })
}
