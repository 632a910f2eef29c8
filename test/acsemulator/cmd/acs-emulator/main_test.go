package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRefusesUnsafeSetups(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(tok, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join("..", "..", "testdata", "central.yaml")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"all interfaces":    {[]string{"--addr", "0.0.0.0:8443", "--token-file", tok, "--data", data}, "not loopback"},
		"empty host":        {[]string{"--addr", ":8443", "--token-file", tok, "--data", data}, "not loopback"},
		"public address":    {[]string{"--addr", "192.0.2.10:8443", "--token-file", tok, "--data", data}, "not loopback"},
		"no token file":     {[]string{"--data", data}, "--token-file is required"},
		"empty token":       {[]string{"--token-file", empty, "--data", data}, "is empty"},
		"missing data file": {[]string{"--token-file", tok, "--data", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		"stray argument":    {[]string{"--token-file", tok, "extra"}, "unexpected arguments"},
	} {
		t.Run(name, func(t *testing.T) {
			err := run(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%v) = %v, want an error mentioning %q", tc.args, err, tc.want)
			}
		})
	}
}
