package acs

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testCAPEM(t *testing.T, srv *httptest.Server) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// The token never shows in any fmt verb of a Config or a Client, nor in
// json.Marshal of a Config.
func TestTokenNeverFormatted(t *testing.T) {
	srv := newSeqServer(t, reply{status: 200})
	cfg := Config{
		Endpoint: srv.URL, Plaintext: true, Token: testToken,
		OnRetry: func(RetryEvent) {}, Timeout: time.Minute,
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPtr := &cfg
	for _, v := range []any{cfg, cfgPtr, c, *c} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%T %v"} {
			assertNoToken(t, fmt.Sprintf("%s of %T", verb, v), fmt.Sprintf(verb, v))
		}
	}
	assertNoToken(t, "Config.String", cfg.String())
	assertNoToken(t, "Client.String", c.String())
	// Nested in a caller's struct, by value and by pointer.
	assertNoToken(t, "nested", fmt.Sprintf("%+v", struct {
		C Config
		P *Client
	}{cfg, c}))
	b, _ := json.Marshal(cfg)
	assertNoToken(t, "json.Marshal(Config)", string(b))

	if s := fmt.Sprintf("%v", cfg); !strings.Contains(s, "[REDACTED]") || !strings.Contains(s, srv.URL) {
		t.Errorf("Config formats as %s; want the endpoint and [REDACTED]", s)
	}
	if s := fmt.Sprint(Config{Endpoint: "https://admin:pw@central:443"}); strings.Contains(s, "pw") {
		t.Errorf("user info printed: %s", s)
	}
}

func TestNewValidatesFields(t *testing.T) {
	tls := httptest.NewTLSServer(http.NotFoundHandler())
	defer tls.Close()
	ca := testCAPEM(t, tls)
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no endpoint", Config{}, "Endpoint"},
		{"bad CA", Config{Endpoint: "c:443", CACert: []byte("not pem")}, "CACert"},
		{"CA block garbage", Config{Endpoint: "c:443", CACert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}})}, "CACert"},
		{"insecure and CA", Config{Endpoint: "c:443", CACert: ca, InsecureSkipVerify: true}, "InsecureSkipVerify"},
		{"plaintext and CA", Config{Endpoint: "c:80", Plaintext: true, CACert: ca}, "CACert"},
		{"token with newline inside", Config{Endpoint: "c:443", Token: "abc\ndef"}, "Token"},
		{"negative timeout", Config{Endpoint: "c:443", Timeout: -time.Second}, "Timeout"},
		{"negative concurrency", Config{Endpoint: "c:443", MaxConcurrent: -1}, "MaxConcurrent"},
		{"nil transport wrapper", Config{Endpoint: "c:443", WrapTransport: func(http.RoundTripper) http.RoundTripper { return nil }}, "WrapTransport"},
	} {
		_, err := New(tc.cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: New error = %v; want a ConfigError on %s", tc.name, err, tc.field)
		}
	}
	c, err := New(Config{Endpoint: "central:443", Token: " \t" + testToken + "\n", CACert: ca})
	if err != nil {
		t.Fatal(err)
	}
	if c.tokenValue() != testToken || c.Endpoint() != "https://central:443" {
		t.Errorf("token not trimmed or endpoint not normalised: %q", c.Endpoint())
	}
	if c.cfg.Timeout != DefaultTimeout || c.cfg.Retries != DefaultRetries || c.cfg.MaxConcurrent != DefaultMaxConcurrent {
		t.Errorf("defaults = %v %v %v", c.cfg.Timeout, c.cfg.Retries, c.cfg.MaxConcurrent)
	}
	if c, _ := New(Config{Endpoint: "central:443", Retries: -1}); c.cfg.Retries != 0 {
		t.Errorf("Retries -1 → %d", c.cfg.Retries)
	}
}

func TestConfigFromEnv(t *testing.T) {
	clear := func() {
		for _, k := range []string{EnvEndpoint, EnvCentralEndpoint, EnvAPIToken, EnvAPITokenFile, EnvCACertFile,
			EnvInsecureSkipTLS, EnvServerName, EnvPlaintext, EnvInsecureClient, EnvMaxRetries} {
			t.Setenv(k, "")
		}
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("from-file-"+testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tls := httptest.NewTLSServer(http.NotFoundHandler())
	defer tls.Close()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, testCAPEM(t, tls), 0o600); err != nil {
		t.Fatal(err)
	}

	clear()
	t.Setenv(EnvCentralEndpoint, "https://central.stackrox.svc")
	t.Setenv(EnvAPIToken, " "+testToken+"\n")
	t.Setenv(EnvInsecureSkipTLS, "true")
	t.Setenv(EnvServerName, "central.stackrox")
	t.Setenv(EnvMaxRetries, "0")
	c, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "https://central.stackrox.svc" || c.Token != testToken || !c.InsecureSkipVerify ||
		c.ServerName != "central.stackrox" || c.Retries != -1 {
		t.Errorf("config = %+v (retries %d)", c, c.Retries)
	}

	// ROX_ENDPOINT wins over the alias; the token file wins over the variable.
	t.Setenv(EnvEndpoint, "central:8443")
	t.Setenv(EnvAPITokenFile, tokenFile)
	t.Setenv(EnvCACertFile, caFile)
	t.Setenv(EnvInsecureSkipTLS, "")
	if c, err = ConfigFromEnv(); err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "central:8443" || c.Token != "from-file-"+testToken || len(c.CACert) == 0 {
		t.Errorf("config = %v", c)
	}
	if _, err := New(c); err != nil {
		t.Errorf("New(ConfigFromEnv()) = %v", err)
	}

	for _, tc := range []struct {
		set  map[string]string
		name string // the variable the error must name
	}{
		{map[string]string{}, EnvEndpoint},
		{map[string]string{EnvEndpoint: "c:443"}, EnvAPIToken},
		{map[string]string{EnvEndpoint: "c:443", EnvAPITokenFile: filepath.Join(dir, "missing")}, EnvAPITokenFile},
		{map[string]string{EnvEndpoint: "c:443", EnvAPIToken: "t", EnvCACertFile: tokenFile}, EnvCACertFile},
		{map[string]string{EnvEndpoint: "c:443", EnvAPIToken: "t", EnvInsecureSkipTLS: "yes please"}, EnvInsecureSkipTLS},
		{map[string]string{EnvEndpoint: "c:443", EnvAPIToken: "t", EnvPlaintext: "true"}, EnvPlaintext},
		{map[string]string{EnvEndpoint: "c:443", EnvAPIToken: "t", EnvMaxRetries: "-2"}, EnvMaxRetries},
	} {
		clear()
		for k, v := range tc.set {
			t.Setenv(k, v)
		}
		_, err := ConfigFromEnv()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.name {
			t.Errorf("env %v: error = %v; want one naming %s", tc.set, err, tc.name)
		}
		if err != nil {
			assertNoToken(t, "ConfigFromEnv error", err.Error())
		}
	}

	clear()
	t.Setenv(EnvEndpoint, "http://127.0.0.1:8080")
	t.Setenv(EnvAPIToken, "t")
	t.Setenv(EnvPlaintext, "true")
	t.Setenv(EnvInsecureClient, "true")
	if c, err := ConfigFromEnv(); err != nil || !c.Plaintext {
		t.Errorf("plaintext env: %v, %v", c, err)
	}
}

func TestConfigFromSecretData(t *testing.T) {
	tls := httptest.NewTLSServer(http.NotFoundHandler())
	defer tls.Close()
	ca := testCAPEM(t, tls)

	c, err := ConfigFromSecretData(map[string][]byte{
		"endpoint": []byte("central.stackrox.svc:443\n"),
		"token":    []byte(testToken + "\n"),
		"ca.crt":   ca,
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "central.stackrox.svc:443" || c.Token != testToken || string(c.CACert) != string(ca) || c.InsecureSkipVerify {
		t.Errorf("config = %v", c)
	}
	c, err = ConfigFromSecretData(map[string][]byte{
		"endpoint": []byte("c:443"), "token": []byte("t"), "insecure-skip-verify": []byte("true"),
	})
	if err != nil || !c.InsecureSkipVerify {
		t.Errorf("insecure: %v, %v", c, err)
	}

	for _, tc := range []struct {
		data map[string][]byte
		key  string
	}{
		{map[string][]byte{"token": []byte(testToken)}, `"endpoint"`},
		{map[string][]byte{"endpoint": []byte("c:443")}, `"token"`},
		{map[string][]byte{"endpoint": []byte("c:443"), "token": []byte(" \n")}, `"token"`},
		{map[string][]byte{"endpoint": []byte("c:443"), "token": []byte(testToken), "ca.crt": []byte(testToken)}, `"ca.crt"`},
		{map[string][]byte{"endpoint": []byte("c:443"), "token": []byte(testToken), "insecure-skip-verify": []byte(testToken)}, `"insecure-skip-verify"`},
	} {
		_, err := ConfigFromSecretData(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("data %v: error = %v; want one naming %s", keys(tc.data), err, tc.key)
			continue
		}
		assertNoToken(t, "ConfigFromSecretData error", err.Error())
	}
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
