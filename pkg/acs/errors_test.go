package acs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// acs.md §2 error JSON: {code, message, details, error}; non-JSON bodies keep
// their text. Each case makes one call and checks the typed error.
func TestErrorShapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reply  reply
		status int
		code   int
		msgHas string
		is     error // a sentinel errors.Is must match, or nil
		strHas string
	}{
		{"400 fixture", jsonReply(400, fixture(t, "error-400-invalid-image-name.json")),
			400, CodeInvalidArgument, "must be lowercase", ErrInvalidArgument, "InvalidArgument"},
		{"401 fixture", jsonReply(401, fixture(t, "error-401-unauthenticated.json")),
			401, CodeUnauthenticated, "token validation failed", ErrUnauthenticated, "authentication failed"},
		{"403 from the spec", jsonReply(403, []byte(`{"code":7,"message":"not authorized: \"READ_WRITE_ACCESS\" for \"Image\"","details":[],"error":"not authorized: \"READ_WRITE_ACCESS\" for \"Image\""}`)),
			403, CodePermissionDenied, `"READ_WRITE_ACCESS" for "Image"`, ErrPermissionDenied, "permission denied"},
		{"404 fixture", jsonReply(404, fixture(t, "error-404-image-not-found.json")),
			404, CodeNotFound, "does not exist", ErrNotFound, "NotFound"},
		{"500 fixture", jsonReply(500, fixture(t, "scan-error-500-missing-scan-data.json")),
			500, CodeInternal, "[MISSING_SCAN_DATA]", nil, "scan could not be completed"},
		{"only the legacy error key", jsonReply(500, []byte(`{"code":13,"error":"legacy only"}`)),
			500, CodeInternal, "legacy only", nil, ""},
		{"429 text/plain from the rate limiter", reply{status: 429, ctype: "text/plain; charset=utf-8",
			body: `APIRateLimiter call on "/v1/images/scan" is rejected by rate limiter, please retry later.` + "\n"},
			429, 0, "rejected by rate limiter", ErrRateLimited, "rate limited"},
		{"502 HTML from a router", reply{status: 502, ctype: "text/html",
			body: "<html><head><TITLE>Application is not available</TITLE></head><body>\n<h1>x</h1></body></html>"},
			502, 0, "HTML page: Application is not available", nil, "Bad Gateway"},
		{"503 empty", reply{status: 503}, 503, 0, "", nil, "HTTP 503 Service Unavailable"},
		{"JSON without Content-Type", reply{status: 404, body: `{"code":5,"message":"gone"}`},
			404, CodeNotFound, "gone", ErrNotFound, ""},
		{"a server echoing the token", jsonReply(401, []byte(`{"code":16,"message":"bad token `+testToken+"\\u0007\\n\\n\\tend"+`"}`)),
			401, CodeUnauthenticated, "bad token [REDACTED] end", ErrUnauthenticated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSeqServer(t, tc.reply)
			c := newTestClient(t, srv.URL, func(c *Config) { c.Retries = -1 })
			_, err := c.Metadata(context.Background())
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *APIError", err, err)
			}
			if ae.Status != tc.status || ae.Code != tc.code || !strings.Contains(ae.Message, tc.msgHas) ||
				ae.Op != "GET /v1/metadata" {
				t.Errorf("APIError = %+v", ae)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.strHas) {
				t.Errorf("Error() = %q; want it to contain %q", err, tc.strHas)
			}
			assertNoToken(t, "error", err.Error())
		})
	}
}

func TestPredicates(t *testing.T) {
	e401 := &APIError{Status: 401}
	e403 := &APIError{Status: 403, Code: CodePermissionDenied}
	eFailedPrecondition := &APIError{Status: 400, Code: CodeFailedPrecondition}
	if !IsUnauthenticated(e401) || IsPermissionDenied(e401) || !IsPermissionDenied(e403) {
		t.Error("status/code predicates wrong")
	}
	if IsInvalidArgument(eFailedPrecondition) {
		t.Error("FailedPrecondition (also HTTP 400) reported as InvalidArgument")
	}
	if !IsRetryable(&APIError{Status: 503, Retryable: true}) || IsRetryable(errors.New("x")) || IsRetryable(nil) {
		t.Error("IsRetryable wrong")
	}
	wrapped := errors.Join(errors.New("context"), e403)
	if !IsPermissionDenied(wrapped) {
		t.Error("predicate does not see through wrapping")
	}
}

// A redirect is not followed: the token must only go to the endpoint.
func TestRedirectNotFollowed(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
	defer target.Close()
	srv := newSeqServer(t, reply{status: 302, header: map[string]string{"Location": target.URL + "/login"}})
	c := newTestClient(t, srv.URL)
	_, err := c.Metadata(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 302 || ae.Retryable || !strings.Contains(err.Error(), "redirect not followed") {
		t.Errorf("error = %v", err)
	}
	if followed.Load() || len(srv.requests()) != 1 {
		t.Errorf("redirect followed=%v, requests=%d", followed.Load(), len(srv.requests()))
	}
}

// A 200 that is not JSON (a login page in front of Central) is a clear,
// non-retryable error, not a zero value.
func TestNonJSONSuccessBody(t *testing.T) {
	srv := newSeqServer(t, reply{status: 200, ctype: "text/html", body: "<html>Log in</html>"})
	c := newTestClient(t, srv.URL)
	_, err := c.Metadata(context.Background())
	if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("error = %v", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("requests = %d", n)
	}
}
