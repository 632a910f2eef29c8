// Package acsemulator is a TEST DOUBLE of Red Hat Advanced Cluster Security
// (StackRox) Central's REST API. It is not ACS, scans nothing and decides
// nothing real: every image, CVE and policy verdict comes from a data file
// (see Data and testdata/central.yaml). It exists because ACS cannot run in
// unit tests, CI or the demo, and the client in pkg/acs must still be tested
// against the wire format Central really speaks.
//
// Every response carries the header "X-Modelguard-Test-Double:
// acs-central-emulator" so that a log, a report or a human can always tell an
// emulated answer from a real one. Nothing in the product may use the emulator
// as a default endpoint; it is only ever wired in explicitly by tests, the
// demo, or the acs-emulator command.
//
// What it reproduces (from the project's ACS research notes and fixtures):
//   - grpc-gateway JSON: lowerCamelCase keys, every field emitted, enums as
//     names, int64/uint64 as strings, unset oneof members omitted, null for
//     unset messages and timestamps;
//   - errors as {"code","message","details":[],"error"} with the HTTP status
//     grpc-gateway derives from the gRPC code;
//   - GET /v1/ping (anonymous), GET /v1/metadata, GET /v1/auth/status,
//     GET /v1/mypermissions, POST /v1/images/scan, GET /v1/images/{id},
//     POST /v1/detect/build and POST /v1/detect/deploy/yaml;
//   - Central's traps: a 500 for an image without scan data, a detect/build
//     that silently passes such an image, scans with PARTIAL_SCAN_DATA or
//     OS_UNAVAILABLE notes, "fixedBy" both absent and "" for unfixable CVEs,
//     and (by fault injection) a 429 rate-limit answer in text/plain.
//
// Fault injection (FailNext, RateLimitNext, SetLatency) and counters (Calls,
// InFlight, MaxInFlight) let tests drive a client's retry, timeout and
// concurrency behaviour. Start runs it as a loopback HTTPS server.
package acsemulator

import (
	"bytes"
	"compress/gzip"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TestDoubleHeader and TestDoubleValue mark every emulator response.
const (
	TestDoubleHeader = "X-Modelguard-Test-Double"
	TestDoubleValue  = "acs-central-emulator"
)

// gRPC status codes Central's gateway puts into error bodies.
const (
	codeInvalidArgument  = 3
	codeNotFound         = 5
	codePermissionDenied = 7
	codeInternal         = 13
	codeUnavailable      = 14
	codeUnimplemented    = 12
	codeUnauthenticated  = 16
)

// httpStatus is grpc-gateway's HTTPStatusFromCode for the codes used here.
var httpStatus = map[int]int{
	codeInvalidArgument:  http.StatusBadRequest,
	codeNotFound:         http.StatusNotFound,
	codePermissionDenied: http.StatusForbidden,
	codeInternal:         http.StatusInternalServerError,
	codeUnavailable:      http.StatusServiceUnavailable,
	codeUnimplemented:    http.StatusNotImplemented,
	codeUnauthenticated:  http.StatusUnauthorized,
}

// Emulator is the emulated Central as an http.Handler. Its data is fixed at
// New; its fault-injection methods are safe for concurrent use.
type Emulator struct {
	token    string
	central  Central
	perms    map[string]string
	byDigest map[string]*Image
	byName   map[string]*Image
	build    []*policy
	deploy   []*policy
	started  time.Time
	routes   map[string]route

	mu       sync.Mutex
	faults   map[string][]fault
	calls    map[string]int
	latency  time.Duration
	inFlight atomic.Int64
	maxIn    atomic.Int64
	busy     atomic.Int64 // nanoseconds spent serving scan and detect calls
	unknown  atomic.Pointer[Image]
	done     chan struct{}
	stopOnce sync.Once
}

// route is one endpoint: who may call it and whether it is "work" (scan or
// detect), which is what latency, InFlight and MaxInFlight apply to.
type route struct {
	method   string
	resource string // permission needed; "" = any authenticated caller
	access   string // READ_ACCESS or READ_WRITE_ACCESS
	anon     bool
	work     bool
	handle   func(*Emulator, http.ResponseWriter, *http.Request)
}

// New builds an emulator over data that accepts exactly one API token. It
// panics if data does not validate or token is empty, because both are
// programming errors in a test; use Load to get validated data from a file.
func New(data Data, token string) *Emulator {
	if err := data.Validate(); err != nil {
		panic("acsemulator: invalid data: " + err.Error())
	}
	data = data.clone()
	if strings.TrimSpace(token) == "" {
		panic("acsemulator: an API token is required (the emulator has no anonymous mode)")
	}
	e := &Emulator{
		token:    strings.TrimSpace(token),
		central:  data.Central,
		perms:    data.Central.Permissions,
		byDigest: map[string]*Image{},
		byName:   map[string]*Image{},
		started:  time.Now().UTC(),
		faults:   map[string][]fault{},
		calls:    map[string]int{},
		done:     make(chan struct{}),
	}
	if e.central.Version == "" {
		e.central.Version = "4.8.3"
	}
	if len(e.perms) == 0 {
		e.perms = map[string]string{"Image": "READ_WRITE_ACCESS", "Detection": "READ_ACCESS"}
	}
	for i := range data.Images {
		img := &data.Images[i]
		e.byDigest[img.Digest] = img
		for _, n := range img.Names {
			e.byName[mustParseName(n).key()] = img
		}
	}
	for _, p := range data.BuildPolicies {
		e.build = append(e.build, newPolicy(p, "BUILD"))
	}
	for _, p := range data.DeployPolicies {
		e.deploy = append(e.deploy, newPolicy(p, "DEPLOY"))
	}
	e.routes = map[string]route{
		"/v1/ping":               {method: http.MethodGet, anon: true, handle: (*Emulator).ping},
		"/v1/metadata":           {method: http.MethodGet, handle: (*Emulator).metadata},
		"/v1/auth/status":        {method: http.MethodGet, handle: (*Emulator).authStatus},
		"/v1/mypermissions":      {method: http.MethodGet, handle: (*Emulator).myPermissions},
		"/v1/images/scan":        {method: http.MethodPost, resource: "Image", access: "READ_WRITE_ACCESS", work: true, handle: (*Emulator).scanImage},
		"/v1/images/{id}":        {method: http.MethodGet, resource: "Image", access: "READ_ACCESS", handle: (*Emulator).getImage},
		"/v1/detect/build":       {method: http.MethodPost, resource: "Detection", access: "READ_ACCESS", work: true, handle: (*Emulator).detectBuild},
		"/v1/detect/deploy/yaml": {method: http.MethodPost, resource: "Detection", access: "READ_ACCESS", work: true, handle: (*Emulator).detectDeployYAML},
	}
	return e
}

// ServeHTTP answers like Central's REST gateway. The order of checks is
// deliberate: injected faults come first because they stand for things in
// front of Central's handlers (its rate limiter, a load balancer); then
// authentication, so a bad token fails fast; then the latency of a scan.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(TestDoubleHeader, TestDoubleValue)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	path := r.URL.Path
	e.countCall(path)

	rt, known := e.routes[path]
	if !known && strings.HasPrefix(path, "/v1/images/") && len(path) > len("/v1/images/") {
		rt, known = e.routes["/v1/images/{id}"]
	}
	if known && rt.work {
		e.enter()
		defer e.inFlight.Add(-1)
		defer func(start time.Time) { e.busy.Add(int64(time.Since(start))) }(time.Now())
	}
	if f, ok := e.takeFault(path); ok {
		f.write(w)
		return
	}
	switch {
	case !known:
		writeError(w, codeNotFound, "Not Found")
		return
	case r.Method != rt.method:
		writeError(w, codeUnimplemented, "Method Not Allowed")
		return
	}
	if !rt.anon {
		if msg, ok := e.authenticate(r); !ok {
			writeError(w, codeUnauthenticated, msg)
			return
		}
		if rt.resource != "" && !e.allowed(rt.resource, rt.access) {
			writeError(w, codePermissionDenied, fmt.Sprintf("not authorized: %q for %q", rt.access, rt.resource))
			return
		}
	}
	if rt.work {
		// Read the body before sleeping: net/http only watches for the
		// client hanging up once the body is consumed, and the sleep must
		// end when it does.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeError(w, codeInvalidArgument, "reading request body: "+err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !e.wait(w, r) {
			return
		}
	}
	rt.handle(e, w, r)
}

// maxBody bounds request bodies a little above Central's default gRPC
// message limit (24 MiB).
const maxBody = 32 << 20

// authenticate checks "Authorization: Bearer <token>". The messages are
// Central's: the errox "credentials not found" sentinel, extended by the
// token extractor when a token was sent but did not validate.
func (e *Emulator) authenticate(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "credentials not found", false
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(e.token)) != 1 {
		return "credentials not found: token-based: cannot extract identity: token validation failed", false
	}
	return "", true
}

func (e *Emulator) allowed(resource, access string) bool {
	have := e.perms[resource]
	return have == "READ_WRITE_ACCESS" || have == access
}

func (e *Emulator) ping(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

func (e *Emulator) metadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, map[string]any{
		"version":                  e.central.Version,
		"buildFlavor":              "release",
		"releaseBuild":             true,
		"licenseStatus":            "VALID",
		"compatibleSensorVersions": []string{},
	})
}

func (e *Emulator) myPermissions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, map[string]any{"resourceToAccess": e.perms})
}

// authStatus describes the API token's identity. There is no fixture for it;
// the shape follows proto/api/v1/auth_service.proto AuthStatus, with the
// user_id member of the id oneof set (service_id omitted) as for API tokens.
func (e *Emulator) authStatus(w http.ResponseWriter, r *http.Request) {
	var expires any
	if t, err := parseTime(e.central.TokenExpires); err == nil {
		expires = protoTime(t)
	}
	role := map[string]any{"name": "Continuous Integration", "resourceToAccess": e.perms}
	writeJSON(w, r, http.StatusOK, map[string]any{
		"userId":     "auth-token:" + stableUUID("token", e.token),
		"expires":    expires,
		"refreshUrl": "",
		"authProvider": map[string]any{
			"id": stableUUID("auth-provider", "api-token"), "name": "API Token", "type": "api-token",
			"uiEndpoint": "", "enabled": true, "config": map[string]string{}, "loginUrl": "",
			"validated": true, "extraUiEndpoints": []string{}, "active": true,
			"requiredAttributes": []any{}, "traits": nil, "claimMappings": map[string]string{},
			"lastUpdated": nil,
		},
		"userInfo": map[string]any{
			"username": "acsemulator-ci", "friendlyName": "acsemulator CI token (test double)",
			"permissions": map[string]any{"resourceToAccess": e.perms},
			"roles":       []any{role},
		},
		"userAttributes": []any{},
		"idpToken":       "",
	})
}

// ErrorBody renders Central's error JSON for a gRPC code and message, for use
// as a FailNext body.
func ErrorBody(code int, message string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]any{"code": code, "message": message, "details": []any{}, "error": message})
	return b.String()
}

func writeError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus[code])
	_, _ = w.Write([]byte(ErrorBody(code, message)))
}

// writeJSON encodes like Central's marshaller as far as it shows on the wire:
// no HTML escaping (policy values such as ">= IMPORTANT" stay readable) and
// indentation only on ?pretty. Like Central it gzips when the client accepts
// it, so a client that sets Accept-Encoding itself (and thereby turns off Go's
// transparent decompression) is caught in tests.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if r.URL.Query().Has("pretty") {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		writeError(w, codeInternal, "acsemulator: encoding response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Add("Vary", "Accept-Encoding")
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.WriteHeader(status)
		_, _ = w.Write(b.Bytes())
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.WriteHeader(status)
	gz := gzip.NewWriter(w)
	_, _ = gz.Write(b.Bytes())
	_ = gz.Close()
}

// decodeBody reads a JSON request body. Unknown fields are ignored, as
// Central's unmarshaller has DiscardUnknown; an empty body is an empty message.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, codeInvalidArgument, "proto: syntax error: "+err.Error())
		return false
	}
	return true
}
