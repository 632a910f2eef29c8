package acs

import (
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Request bodies are exactly the shapes acs.md §1 gives.
func TestRequestShapes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		reply      []byte
		call       func(c *Client) error
		method     string
		path       string
		body       map[string]any
		checkReply func(t *testing.T, c *Client)
	}{
		{
			name: "ping", reply: fixture(t, "ping-ok.json"), method: "GET", path: "/v1/ping",
			call: func(c *Client) error { return c.Ping(ctx) },
		},
		{
			name: "metadata", reply: fixture(t, "metadata-authenticated.json"), method: "GET", path: "/v1/metadata",
			call: func(c *Client) error { _, err := c.Metadata(ctx); return err },
		},
		{
			name: "auth status", method: "GET", path: "/v1/auth/status",
			reply: []byte(`{"userId":"u","expires":"2026-12-01T00:00:00Z","refreshUrl":"","authProvider":null,"userInfo":null,"userAttributes":[]}`),
			call: func(c *Client) error {
				a, err := c.AuthStatus(ctx)
				if err == nil && (a.UserID != "u" || a.Expires.Month() != time.December) {
					return errors.New("auth status not decoded")
				}
				return err
			},
		},
		{
			name: "my permissions (trap 11 pre-flight)", method: "GET", path: "/v1/mypermissions",
			reply: []byte(`{"resourceToAccess":{"Image":"READ_WRITE_ACCESS","Detection":"READ_ACCESS"}}`),
			call: func(c *Client) error {
				p, err := c.MyPermissions(ctx)
				if err == nil && (p.ResourceToAccess["Image"] != ReadWriteAccess || p.ResourceToAccess["Detection"] != ReadAccess) {
					return errors.New("permissions not decoded")
				}
				return err
			},
		},
		{
			name: "scan image (traps 8, 10)", reply: fixture(t, "scan-clean-image.json"), method: "POST", path: "/v1/images/scan",
			call: func(c *Client) error {
				_, err := c.ScanImage(ctx, ScanRequest{Image: digestRef, Force: true, IncludeSnoozed: true, Cluster: "prod", Namespace: "ml"})
				return err
			},
			body: map[string]any{"imageName": digestRef, "force": true, "includeSnoozed": true, "cluster": "prod", "namespace": "ml"},
		},
		{
			name: "scan image minimal", reply: fixture(t, "scan-clean-image.json"), method: "POST", path: "/v1/images/scan",
			call: func(c *Client) error { _, err := c.ScanImage(ctx, ScanRequest{Image: "nginx"}); return err },
			body: map[string]any{"imageName": "nginx"},
		},
		{
			name: "detect build", reply: fixture(t, "detect-build-fail-build-violation.json"), method: "POST", path: "/v1/detect/build",
			call: func(c *Client) error {
				r, err := c.DetectBuild(ctx, BuildRequest{Image: digestRef, Force: true, SendNotifications: true,
					PolicyCategories: []string{"Vulnerability Management", "Privileges"}, Cluster: "prod", Namespace: "ml"})
				if err == nil && len(r.Alerts) != 2 {
					return errors.New("alerts not decoded")
				}
				return err
			},
			body: map[string]any{"imageName": digestRef, "force": true, "sendNotifications": true,
				"policyCategories": []any{"Vulnerability Management", "Privileges"}, "cluster": "prod", "namespace": "ml"},
		},
		{
			name: "detect build no external metadata", reply: fixture(t, "detect-build-clean.json"), method: "POST", path: "/v1/detect/build",
			call: func(c *Client) error {
				_, err := c.DetectBuild(ctx, BuildRequest{Image: digestRef, NoExternalMetadata: true})
				return err
			},
			body: map[string]any{"imageName": digestRef, "noExternalMetadata": true},
		},
		{
			name: "detect deploy yaml", reply: fixture(t, "detect-deploy-yaml-violation.json"), method: "POST", path: "/v1/detect/deploy/yaml",
			call: func(c *Client) error {
				r, err := c.DetectDeployYAML(ctx, DeployRequest{YAML: "kind: Deployment", EnforcementOnly: true, Force: true,
					NoExternalMetadata: true, PolicyCategories: []string{"Privileges"}, Cluster: "prod", Namespace: "ml-serving"})
				if err == nil && len(r.Runs) != 1 {
					return errors.New("runs not decoded")
				}
				return err
			},
			body: map[string]any{"yaml": "kind: Deployment", "enforcementOnly": true, "force": true, "noExternalMetadata": true,
				"policyCategories": []any{"Privileges"}, "cluster": "prod", "namespace": "ml-serving"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSeqServer(t, jsonReply(200, tc.reply))
			c := newTestClient(t, srv.URL)
			if err := tc.call(c); err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests = %d", len(reqs))
			}
			r := reqs[0]
			if r.method != tc.method || r.path != tc.path || r.auth != "Bearer "+testToken ||
				r.accept != "application/json" || r.agent != DefaultUserAgent {
				t.Errorf("request = %+v", r)
			}
			if tc.method == "POST" && r.ctype != "application/json" {
				t.Errorf("Content-Type = %q", r.ctype)
			}
			if !reflect.DeepEqual(r.body, tc.body) {
				t.Errorf("body = %v\nwant   %v", r.body, tc.body)
			}
		})
	}
}

func TestAnonymousClientSendsNoAuthorization(t *testing.T) {
	srv := newSeqServer(t, jsonReply(200, fixture(t, "ping-ok.json")))
	c := newTestClient(t, srv.URL, func(c *Config) { c.Token = "" })
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a := srv.requests()[0].auth; a != "" {
		t.Errorf("Authorization = %q", a)
	}
}

// Requests Central would refuse are refused before a request is sent.
func TestRequestValidation(t *testing.T) {
	srv := newSeqServer(t, jsonReply(200, []byte(`{}`)))
	c := newTestClient(t, srv.URL)
	ctx := context.Background()
	for name, err := range map[string]error{
		"scan empty":  func() error { _, err := c.ScanImage(ctx, ScanRequest{Image: " "}); return err }(),
		"build empty": func() error { _, err := c.DetectBuild(ctx, BuildRequest{}); return err }(),
		"build force+noExt": func() error {
			_, err := c.DetectBuild(ctx, BuildRequest{Image: "a", Force: true, NoExternalMetadata: true})
			return err
		}(),
		"deploy empty yaml": func() error { _, err := c.DetectDeployYAML(ctx, DeployRequest{YAML: "\n"}); return err }(),
	} {
		if !IsInvalidArgument(err) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(fixture(t, "ping-ok.json"))
	}))
	defer srv.Close()
	endpoint := strings.TrimPrefix(srv.URL, "https://") // host:port, as roxctl takes it
	ca := testCAPEM(t, srv)
	ping := func(cfg Config) error {
		cfg.Endpoint, cfg.Token, cfg.RetryBaseDelay = endpoint, testToken, time.Hour
		c, err := New(cfg)
		if err != nil {
			return err
		}
		return c.Ping(context.Background())
	}
	if err := ping(Config{CACert: ca}); err != nil {
		t.Errorf("with CA: %v", err)
	}
	if err := ping(Config{CACert: ca, ServerName: "example.com"}); err != nil {
		t.Errorf("with CA and ServerName: %v", err)
	}
	if err := ping(Config{InsecureSkipVerify: true}); err != nil {
		t.Errorf("insecure: %v", err)
	}
	// Untrusted or wrong name: fails at once (no backoff wait of an hour),
	// not retryable, and says what to fix.
	for name, cfg := range map[string]Config{
		"no CA":      {},
		"wrong name": {CACert: ca, ServerName: "central.elsewhere"},
	} {
		start := time.Now()
		err := ping(cfg)
		if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "TLS verification failed") {
			t.Errorf("%s: error = %v", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
		if err != nil {
			assertNoToken(t, "TLS error", err.Error())
		}
	}
	// A TLS client against a plaintext port.
	plain := newSeqServer(t, jsonReply(200, fixture(t, "ping-ok.json")))
	c, err := New(Config{Endpoint: strings.TrimPrefix(plain.URL, "http://"), RetryBaseDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("TLS to plaintext: %v", err)
	}
}

// acs.md §7 trap 5: the client asks for gzip and inflates transparently.
func TestGzipResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			http.Error(w, "no gzip asked", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		_, _ = gz.Write(fixture(t, "scan-critical-cves-fixable-and-unfixable.json"))
		_ = gz.Close()
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	img, err := c.ScanImage(context.Background(), ScanRequest{Image: digestRef})
	if err != nil || len(img.Scan.Components) != 3 {
		t.Fatalf("ScanImage = %v", err)
	}
}
