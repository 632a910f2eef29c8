package acsemulator

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

const testToken = "emulator-test-token"

// fixture digests, reused by testdata/central.yaml so scenarios line up.
const (
	cleanDigest    = "sha256:7a76fabd5156c138e5a4921ba468b32c8fee33b4360b3fd6c3899117d95ebea5"
	gatewayDigest  = "sha256:190de6ac415911deabe8ce0b3541661a3aa7e2ac74d6fee3d6749debf17e75c1"
	unknownDigest  = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	cleanImageName = "quay.io/acme-ml/sentiment-serving:1.4.0@" + cleanDigest
)

func exampleData(t testing.TB) Data {
	t.Helper()
	d, err := Load(filepath.Join("testdata", "central.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func startExample(t testing.TB) *Server {
	t.Helper()
	return Start(t, exampleData(t), testToken)
}

type response struct {
	status int
	header http.Header
	raw    []byte
}

// json decodes the body into generic values, the way the shape checks need.
func (r response) json(t testing.TB) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.raw, &v); err != nil {
		t.Fatalf("response is not JSON (%d %s): %v", r.status, r.raw, err)
	}
	return v
}

func (r response) obj(t testing.TB) map[string]any {
	t.Helper()
	m, ok := r.json(t).(map[string]any)
	if !ok {
		t.Fatalf("response is not a JSON object: %s", r.raw)
	}
	return m
}

// call sends one request; token "" sends no Authorization header.
func call(t testing.TB, s *Server, method, path, token string, body any) response {
	t.Helper()
	return callCtx(context.Background(), t, s, method, path, token, body)
}

func callCtx(ctx context.Context, t testing.TB, s *Server, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get(TestDoubleHeader); got != TestDoubleValue {
		t.Errorf("%s %s: %s header = %q, want %q", method, path, TestDoubleHeader, got, TestDoubleValue)
	}
	return response{status: resp.StatusCode, header: resp.Header, raw: raw}
}

// fixture reads one of the ACS API fixtures pkg/acs decodes: one copy,
// so the client and the emulator are held to the same answers.
func fixture(t testing.TB, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "pkg", "acs", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// shapeDiff lists where got's JSON shape differs from want's: object keys
// missing or extra, and value kinds that differ (a string where a number is
// expected catches int64-as-string mistakes). null on either side matches
// anything, since optional messages legitimately differ between scenarios.
// Arrays of equal length are compared element by element, otherwise by their
// first elements. Maps with free-form keys (labels, annotations) are only
// checked for being objects.
func shapeDiff(path string, want, got any) []string {
	if want == nil || got == nil {
		return nil
	}
	if strings.HasSuffix(path, ".labels") || strings.HasSuffix(path, ".annotations") {
		if _, ok := got.(map[string]any); !ok {
			return []string{fmt.Sprintf("%s: want an object, got %T", path, got)}
		}
		return nil
	}
	var diffs []string
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %T", path, got)}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, path+"."+k+": missing")
				continue
			}
			diffs = append(diffs, shapeDiff(path+"."+k, wv, gv)...)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				diffs = append(diffs, path+"."+k+": unexpected")
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an array, got %T", path, got)}
		}
		switch {
		case len(w) == len(g):
			for i := range w {
				diffs = append(diffs, shapeDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
			}
		case len(w) > 0 && len(g) > 0:
			diffs = append(diffs, shapeDiff(path+"[0]", w[0], g[0])...)
		}
	default:
		if reflect.TypeOf(want) != reflect.TypeOf(got) {
			diffs = append(diffs, fmt.Sprintf("%s: want %T, got %T (%v)", path, want, got, got))
		}
	}
	sort.Strings(diffs)
	return diffs
}

func assertShape(t *testing.T, fixtureName string, got any) {
	t.Helper()
	if d := shapeDiff("$", fixture(t, fixtureName), got); len(d) > 0 {
		t.Errorf("shape differs from %s:\n  %s", fixtureName, strings.Join(d, "\n  "))
	}
}

// dig walks a generic JSON value by object keys and array indexes.
func dig(t testing.TB, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("dig %v: %q on %T", path, k, v)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("dig %v: [%d] on %T", path, k, v)
			}
			v = a[k]
		}
	}
	return v
}

func TestPingIsAnonymousAndMatchesFixture(t *testing.T) {
	s := startExample(t)
	r := call(t, s, "GET", "/v1/ping", "", nil)
	if r.status != 200 || !reflect.DeepEqual(r.json(t), fixture(t, "ping-ok.json")) {
		t.Fatalf("ping = %d %s", r.status, r.raw)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestMetadataNeedsTokenAndMatchesFixture(t *testing.T) {
	s := startExample(t)
	r := call(t, s, "GET", "/v1/metadata", testToken, nil)
	if r.status != 200 {
		t.Fatalf("metadata = %d %s", r.status, r.raw)
	}
	assertShape(t, "metadata-authenticated.json", r.json(t))
	if v := r.obj(t)["version"]; v != "4.8.3" {
		t.Errorf("version = %v", v)
	}
	if r := call(t, s, "GET", "/v1/metadata", "", nil); r.status != 401 {
		t.Errorf("metadata without token = %d", r.status)
	}
}

func TestAuthFailures(t *testing.T) {
	s := startExample(t)
	want401 := fixture(t, "error-401-unauthenticated.json")
	for _, path := range []string{"/v1/metadata", "/v1/auth/status", "/v1/mypermissions"} {
		r := call(t, s, "GET", path, "wrong-token", nil)
		if r.status != 401 || !reflect.DeepEqual(r.json(t), want401) {
			t.Errorf("GET %s with a wrong token = %d %s", path, r.status, r.raw)
		}
	}
	for _, path := range []string{"/v1/images/scan", "/v1/detect/build", "/v1/detect/deploy/yaml"} {
		r := call(t, s, "POST", path, "wrong-token", map[string]string{"imageName": "nginx"})
		if r.status != 401 || !reflect.DeepEqual(r.json(t), want401) {
			t.Errorf("POST %s with a wrong token = %d %s", path, r.status, r.raw)
		}
		r = call(t, s, "POST", path, "", map[string]string{"imageName": "nginx"})
		if r.status != 401 {
			t.Errorf("POST %s without a token = %d %s", path, r.status, r.raw)
		}
		assertShape(t, "error-401-unauthenticated.json", r.json(t))
		if msg := r.obj(t)["message"]; msg != "credentials not found" {
			t.Errorf("missing-token message = %v", msg)
		}
	}
	// Basic auth is not the API token scheme.
	req, _ := http.NewRequest("GET", s.URL+"/v1/metadata", nil)
	req.SetBasicAuth("admin", testToken)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("basic auth = %d", resp.StatusCode)
	}
}

func TestAuthStatusAndPermissions(t *testing.T) {
	s := startExample(t)
	st := call(t, s, "GET", "/v1/auth/status", testToken, nil).obj(t)
	if _, ok := st["serviceId"]; ok {
		t.Error("serviceId set; only the userId member of the id oneof should be")
	}
	if !strings.HasPrefix(fmt.Sprint(st["userId"]), "auth-token:") || st["expires"] != "2027-01-01T00:00:00Z" {
		t.Errorf("auth status = %v", st)
	}
	perms := call(t, s, "GET", "/v1/mypermissions", testToken, nil).obj(t)
	want := map[string]any{"Image": "READ_WRITE_ACCESS", "Detection": "READ_ACCESS"}
	if !reflect.DeepEqual(perms["resourceToAccess"], want) {
		t.Errorf("permissions = %v", perms)
	}
}

func TestPermissionDenied(t *testing.T) {
	d := exampleData(t)
	d.Central.Permissions = map[string]string{"Image": "READ_ACCESS", "Detection": "NO_ACCESS"}
	s := Start(t, d, testToken)
	r := call(t, s, "POST", "/v1/images/scan", testToken, map[string]string{"imageName": cleanImageName})
	if r.status != 403 || r.obj(t)["message"] != `not authorized: "READ_WRITE_ACCESS" for "Image"` || r.obj(t)["code"] != 7.0 {
		t.Errorf("scan with Image READ = %d %s", r.status, r.raw)
	}
	r = call(t, s, "POST", "/v1/detect/build", testToken, map[string]string{"imageName": cleanImageName})
	if r.status != 403 {
		t.Errorf("detect with Detection NO_ACCESS = %d %s", r.status, r.raw)
	}
	if r := call(t, s, "GET", "/v1/images/"+cleanDigest, testToken, nil); r.status != 200 {
		t.Errorf("get image with Image READ = %d %s", r.status, r.raw)
	}
}

func TestRoutingErrors(t *testing.T) {
	s := startExample(t)
	if r := call(t, s, "GET", "/v1/nothing-here", testToken, nil); r.status != 404 || r.obj(t)["code"] != 5.0 {
		t.Errorf("unknown path = %d %s", r.status, r.raw)
	}
	if r := call(t, s, "GET", "/v1/images/scan", testToken, nil); r.status != 501 || r.obj(t)["code"] != 12.0 {
		t.Errorf("wrong method = %d %s", r.status, r.raw)
	}
	if r := call(t, s, "POST", "/v1/images/scan", testToken, "not an object"); r.status != 400 {
		t.Errorf("bad body = %d %s", r.status, r.raw)
	}
}

func TestGzipAndHTTP2(t *testing.T) {
	s := startExample(t)
	req, _ := http.NewRequest("POST", s.URL+"/v1/images/scan", strings.NewReader(`{"imageName":"`+cleanImageName+`"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: Go no longer decompresses
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.ProtoMajor != 2 {
		t.Fatalf("Content-Encoding = %q, protocol %s", resp.Header.Get("Content-Encoding"), resp.Proto)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var img map[string]any
	if err := json.NewDecoder(zr).Decode(&img); err != nil || img["id"] != cleanDigest {
		t.Errorf("decoded %v, %v", img["id"], err)
	}
}
