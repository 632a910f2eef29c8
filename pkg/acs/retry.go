package acs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// call is one API call, possibly made several times.
type call struct {
	method, path string
	query        url.Values // for GETs: Central reads request fields from the query
	body         any        // marshalled for every attempt: beforeRetry may change it
	decode       func(io.Reader) error
	// maxBytes, if set, bounds this call's body below Config.MaxResponseBytes:
	// the runtime calls read small answers, so a huge one is a broken peer.
	maxBytes int64
	// beforeRetry, if set, sees the error that caused a retry before the
	// next attempt is made.
	beforeRetry func(err error)
}

func (cl *call) op() string { return cl.method + " " + cl.path }

// errAttemptTimeout is the cause of an attempt's context when Config.Timeout
// ends it, telling it apart from the caller's own deadline.
var errAttemptTimeout = errors.New("attempt timed out")

// do makes the call, retrying retryable failures with backoff until it
// succeeds, fails for good, runs out of retries, or ctx ends.
func (c *Client) do(ctx context.Context, cl *call) error {
	op := cl.op()
	for attempt := 1; ; attempt++ {
		err := c.attempt(ctx, cl)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return &transportError{op: op, msg: "canceled", err: ctx.Err()}
		}
		if !IsRetryable(err) {
			return err
		}
		if attempt > c.cfg.Retries {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		delay := c.backoff(attempt, err)
		if c.cfg.OnRetry != nil {
			c.cfg.OnRetry(RetryEvent{Op: op, Attempt: attempt, Delay: delay, Err: err})
		}
		if !sleep(ctx, delay) {
			return &transportError{op: op, err: ctx.Err(),
				msg: fmt.Sprintf("canceled while waiting to retry after attempt %d failed (%v)", attempt, err)}
		}
		if cl.beforeRetry != nil {
			cl.beforeRetry(err)
		}
	}
}

// attempt makes one request: wait for a concurrency slot, send, decode.
func (c *Client) attempt(ctx context.Context, cl *call) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()

	// The attempt's clock starts once it has a slot, so queueing behind
	// other calls does not eat into a scan's ten minutes.
	actx, cancel := context.WithTimeoutCause(ctx, c.cfg.Timeout, errAttemptTimeout)
	defer cancel()

	op := cl.op()
	req, err := c.newRequest(actx, cl)
	if err != nil {
		return &transportError{op: op, msg: "building the request", err: err}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.failure(ctx, actx, op, "request failed", err, true)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.apiError(op, resp)
	}
	limit := c.cfg.MaxResponseBytes
	if cl.maxBytes > 0 && cl.maxBytes < limit {
		limit = cl.maxBytes
	}
	body := &limitReader{r: resp.Body, left: limit}
	err = cl.decode(body)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errResponseTooLarge):
		return &transportError{op: op, err: err,
			msg: fmt.Sprintf("response larger than %d bytes", limit)}
	case errors.Is(err, ErrLimit):
		// Not retried: the same Central would send the same answer.
		return &transportError{op: op, msg: "answer refused", err: err}
	case body.err != nil || errors.Is(err, io.ErrUnexpectedEOF):
		// The body was cut short (a proxy timing out, a reset): the same
		// request may well succeed.
		return c.failure(ctx, actx, op, "reading the response", err, true)
	}
	msg := "malformed response"
	if ct := resp.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		msg = fmt.Sprintf("response is %s, not JSON (a proxy or login page in front of Central?)", clip([]byte(ct)))
	}
	return &transportError{op: op, msg: msg, err: err}
}

// failure classifies an error below HTTP.
func (c *Client) failure(ctx, actx context.Context, op, msg string, err error, retryable bool) error {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case context.Cause(actx) == errAttemptTimeout:
		return &transportError{op: op, err: errAttemptTimeout, retryable: true,
			msg: fmt.Sprintf("no complete answer within %v (Timeout)", c.cfg.Timeout)}
	case errors.As(err, &unknownCA), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &verify):
		// Retrying cannot fix trust; roxctl does not retry x509 errors either.
		return &transportError{op: op, err: err,
			msg: "TLS verification failed (set CACert to the CA that signed Central's certificate, or ServerName)"}
	case errors.As(err, &record),
		// net/http replaces the RecordHeaderError with a plain error when the
		// bytes look like an HTTP response.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return &transportError{op: op, err: err, msg: "the endpoint does not speak TLS (a plaintext port?)"}
	}
	return &transportError{op: op, msg: msg, err: err, retryable: retryable}
}

func (c *Client) newRequest(ctx context.Context, cl *call) (*http.Request, error) {
	u := *c.base
	u.Path = cl.path
	// Encode writes "+" as %2B: a raw "+" would reach Central's query
	// parser as a space and split "Field:a+Field2:b" wrongly.
	u.RawQuery = cl.query.Encode()
	var body io.Reader
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	// No Accept-Encoding here: setting it would turn off the transport's
	// transparent gzip.
	if c.token != nil {
		req.Header.Set("Authorization", "Bearer "+c.token())
	}
	return req, nil
}

// maxErrorBody bounds what is read of an error body: enough for Central's
// JSON, a proxy's HTML page or a rate limiter's sentence.
const maxErrorBody = 64 << 10

// apiError turns a non-2xx response into an *APIError.
func (c *Client) apiError(op string, resp *http.Response) *APIError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{Op: op, Status: resp.StatusCode}
	ct := resp.Header.Get("Content-Type")
	var msg string
	var eb ErrorBody
	if (isJSON(ct) || bytes.HasPrefix(bytes.TrimSpace(b), []byte("{"))) &&
		json.Unmarshal(b, &eb) == nil && (eb.Code != 0 || eb.Message != "" || eb.Error != "") {
		e.Code, msg = eb.Code, eb.Message
		if msg == "" {
			msg = eb.Error
		}
	} else if strings.HasPrefix(ct, "text/html") {
		msg = "HTML page"
		if t := htmlTitle(b); t != "" {
			msg += ": " + t
		}
	} else {
		msg = string(b) // text/plain 429 from the rate limiter, proxies
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc := resp.Header.Get("Location"); loc != "" {
			msg = "to " + redactUserinfo(loc)
		}
	}
	e.Message = cleanText(msg, c.tokenValue())
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
	e.Retryable = retryableStatus(e.Status, e.Message)
	return e
}

func htmlTitle(b []byte) string {
	lower := bytes.ToLower(b)
	i := bytes.Index(lower, []byte("<title>"))
	j := bytes.Index(lower, []byte("</title>"))
	if i < 0 || j < i {
		return ""
	}
	return string(b[i+len("<title>") : j])
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(min(n, 3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// backoff is the wait before retry number attempt: exponential from
// RetryBaseDelay, capped at RetryMaxDelay, with "equal jitter" (half fixed,
// half random) so clients that failed together (a rate limiter answers
// everyone at once) spread out, yet no wait collapses to nothing. A longer
// Retry-After from the server wins, within the cap.
func (c *Client) backoff(attempt int, err error) time.Duration {
	d, limit := c.cfg.RetryBaseDelay, c.cfg.RetryMaxDelay
	for i := 1; i < attempt && d < limit && d <= math.MaxInt64/2; i++ {
		d *= 2
	}
	d = min(d, limit)
	if half := d / 2; d > 0 {
		d = half + rand.N(d-half+1)
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > d {
		d = min(ae.RetryAfter, limit)
	}
	return d
}

// isTimeout reports failures that look like a timeout on the way to
// Central: the attempt's own timeout, a 504 from a proxy, or a connection
// closed before the answer.
func isTimeout(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusGatewayTimeout
	}
	return errors.Is(err, errAttemptTimeout) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// sleep waits d or until ctx ends; it reports whether it waited in full.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// drainClose reads a little of what is left so the connection can be
// reused, then closes the body.
func drainClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 4<<10)
	_ = body.Close()
}
