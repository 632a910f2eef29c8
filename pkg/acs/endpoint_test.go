package acs

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in        string
		plaintext bool
		want      string // "" means an error is expected
		errHas    string
	}{
		// The forms roxctl accepts.
		{in: "central.stackrox.svc:443", want: "https://central.stackrox.svc:443"},
		{in: "  central.example.com:8443\n", want: "https://central.example.com:8443"},
		{in: "https://central.example.com", want: "https://central.example.com:443"},
		{in: "https://central.example.com/", want: "https://central.example.com:443"},
		{in: "https://central.example.com:8443", want: "https://central.example.com:8443"},
		{in: "HTTPS://Central.Example.com:8443/", want: "https://Central.Example.com:8443"},
		{in: "10.0.0.7:443", want: "https://10.0.0.7:443"},
		{in: "[::1]:8443", want: "https://[::1]:8443"},
		{in: "https://[fd00::1]", want: "https://[fd00::1]:443"},
		// Plaintext, for a local emulator only.
		{in: "http://127.0.0.1:8080", plaintext: true, want: "http://127.0.0.1:8080"},
		{in: "http://localhost", plaintext: true, want: "http://localhost:80"},
		{in: "127.0.0.1:8080", plaintext: true, want: "http://127.0.0.1:8080"},
		{in: "http://127.0.0.1:8080", errHas: "unencrypted"},
		{in: "https://central:443", plaintext: true, errHas: "Plaintext"},
		// What roxctl rejects, and what would be guessing.
		{in: "", errHas: "empty"},
		{in: "   ", errHas: "empty"},
		{in: "central.example.com", errHas: "port"},
		{in: "https://central.example.com/v1", errHas: "path"},
		{in: "https://central.example.com/api/", errHas: "path"},
		{in: "central.example.com:443/v1", errHas: "path"},
		{in: "grpc://central:443", errHas: "scheme"},
		{in: "https://central:443?x=1", errHas: "query"},
		{in: "https://central:443#frag", errHas: "fragment"},
		{in: "https://:443", errHas: "host"},
		{in: "https://central:0", errHas: "port"},
		{in: "https://central:70000", errHas: "port"},
		{in: "central:https", errHas: "URL"},
		{in: "https://admin:hunter2@central:443", errHas: "user info"},
	} {
		got, err := normalizeEndpoint(tc.in, tc.plaintext)
		if tc.want != "" {
			if err != nil || got.String() != tc.want {
				t.Errorf("normalizeEndpoint(%q, %v) = %v, %v; want %s", tc.in, tc.plaintext, got, err, tc.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("normalizeEndpoint(%q, %v) = %v; want an error", tc.in, tc.plaintext, got)
			continue
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "Endpoint" || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("normalizeEndpoint(%q) error = %v; want a ConfigError on Endpoint mentioning %q", tc.in, err, tc.errHas)
		}
		// Errors never repeat the value (it may carry credentials).
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error repeats the endpoint: %v", err)
		}
	}
}

func TestJoinYAML(t *testing.T) {
	got := JoinYAML("  a: 1\n", "", "\n---\nb: 2\n---\n", "---\n", "c: 3\n---\nd: 4")
	want := "a: 1\n---\nb: 2\n---\nc: 3\n---\nd: 4"
	if got != want {
		t.Errorf("JoinYAML = %q, want %q", got, want)
	}
}
