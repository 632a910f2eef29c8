package acs

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// gRPC status codes, as carried in ErrorBody.Code and APIError.Code.
const (
	CodeOK                 = 0
	CodeCanceled           = 1
	CodeUnknown            = 2
	CodeInvalidArgument    = 3
	CodeDeadlineExceeded   = 4
	CodeNotFound           = 5
	CodeAlreadyExists      = 6
	CodePermissionDenied   = 7
	CodeResourceExhausted  = 8
	CodeFailedPrecondition = 9
	CodeAborted            = 10
	CodeOutOfRange         = 11
	CodeUnimplemented      = 12
	CodeInternal           = 13
	CodeUnavailable        = 14
	CodeDataLoss           = 15
	CodeUnauthenticated    = 16
)

var codeNames = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
	"NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
	"FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
	"Internal", "Unavailable", "DataLoss", "Unauthenticated",
}

// Sentinels for errors.Is. An *APIError matches the one its status or code
// names; client-side request validation errors wrap ErrInvalidArgument.
var (
	ErrUnauthenticated  = errors.New("acs: unauthenticated")
	ErrPermissionDenied = errors.New("acs: permission denied")
	ErrNotFound         = errors.New("acs: not found")
	ErrInvalidArgument  = errors.New("acs: invalid argument")
	ErrRateLimited      = errors.New("acs: rate limited")
)

// APIError is a non-2xx answer from Central (or from a proxy in front of
// it). Status is the HTTP status; Code and Message come from Central's
// ErrorBody when the body is one, else Code is 0 and Message is the start of
// the body as text (a text/plain 429, an HTML 502 page).
type APIError struct {
	Op      string // "POST /v1/images/scan"
	Status  int
	Code    int
	Message string
	// Retryable says whether the same request may succeed later; the
	// Client has already retried it if so.
	Retryable bool
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("acs: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.Code > 0 && e.Code < len(codeNames) {
		fmt.Fprintf(&b, " (code %d %s)", e.Code, codeNames[e.Code])
	} else if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if h := e.hint(); h != "" {
		b.WriteString(": " + h)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// hint says what a status usually means for this client, so a log line is
// actionable without the API reference at hand.
func (e *APIError) hint() string {
	switch {
	case e.is(http.StatusUnauthorized, CodeUnauthenticated):
		return "authentication failed (API token missing, invalid, expired or revoked)"
	case e.is(http.StatusForbidden, CodePermissionDenied):
		return "permission denied (scan needs Image read-write, detect needs Detection read)"
	case e.is(http.StatusTooManyRequests, CodeResourceExhausted):
		return "rate limited"
	case e.Status >= 300 && e.Status < 400:
		return "redirect not followed (the token is only sent to the configured endpoint)"
	}
	return ""
}

func (e *APIError) is(status, code int) bool {
	return e.Code == code || e.Code == 0 && e.Status == status
}

// Is makes errors.Is(err, ErrUnauthenticated) and friends work.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthenticated:
		return e.is(http.StatusUnauthorized, CodeUnauthenticated)
	case ErrPermissionDenied:
		return e.is(http.StatusForbidden, CodePermissionDenied)
	case ErrNotFound:
		return e.is(http.StatusNotFound, CodeNotFound)
	case ErrInvalidArgument:
		return e.is(http.StatusBadRequest, CodeInvalidArgument)
	case ErrRateLimited:
		return e.is(http.StatusTooManyRequests, CodeResourceExhausted)
	}
	return false
}

// IsUnauthenticated reports a missing, invalid, expired or revoked token.
func IsUnauthenticated(err error) bool { return errors.Is(err, ErrUnauthenticated) }

// IsPermissionDenied reports a token whose role lacks a permission.
func IsPermissionDenied(err error) bool { return errors.Is(err, ErrPermissionDenied) }

// IsNotFound reports an unknown object (e.g. an image never scanned).
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsInvalidArgument reports a request Central (or this package) refused as
// malformed, such as an upper-case repository name.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }

// IsRateLimited reports a 429 or ResourceExhausted answer.
func IsRateLimited(err error) bool { return errors.Is(err, ErrRateLimited) }

// IsMissingScanData reports Central's "scan could not be completed …
// ([MISSING_SCAN_DATA])": no registry or scanner integration could pull
// the image, so Central has nothing to judge it by. Only an answer from
// Central counts (a proxy's page that happens to say so does not).
func IsMissingScanData(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == CodeInternal && strings.Contains(ae.Message, "[MISSING_SCAN_DATA]")
}

// IsRetryable reports whether the failed call may succeed if made again
// later: the Client gave up retrying it, but a controller may requeue.
func IsRetryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Retryable
	}
	var te *transportError
	return errors.As(err, &te) && te.retryable
}

// retryable500 lists the substrings (lower case) of a 500's message that mark
// it as "not ready yet" rather than broken: Central has no in-progress state,
// so a scan that is still pulling or a registry that has not yet served a
// just-pushed manifest shows up as Internal. roxctl retries these too.
var retryable500 = []string{
	"enrichment error",
	"manifest",
	"context deadline exceeded",
	"scan could not be completed",
}

// retryableStatus decides whether an HTTP answer is worth repeating.
func retryableStatus(status int, msg string) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case http.StatusInternalServerError:
		m := strings.ToLower(msg)
		for _, s := range retryable500 {
			if strings.Contains(m, s) {
				return true
			}
		}
	}
	return false
}

// transportError is a failure below HTTP: connection refused or reset, TLS,
// a timed-out attempt, a body cut short.
type transportError struct {
	op        string
	msg       string // what went wrong, in words
	err       error
	retryable bool
}

func (e *transportError) Error() string {
	s := "acs: " + e.op + ": " + e.msg
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *transportError) Unwrap() error { return e.err }

// ConfigError is an invalid Config field or a missing setting. Field names
// the Config field, environment variable or Secret key; the message never
// contains the value.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "acs: config: " + e.Field + " " + e.Reason }

func fieldErr(field, reason string) error { return &ConfigError{Field: field, Reason: reason} }

// cleanText makes a server-supplied message safe to log: the token (if a
// server ever echoed it) is cut out, control characters and runs of
// whitespace become single spaces, and the result is capped.
func cleanText(s, token string) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, "[REDACTED]")
	}
	const limit = 1024
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len() >= limit {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
