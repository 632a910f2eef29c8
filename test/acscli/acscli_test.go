// Package acscli runs `modelguard acs` against the ACS Central emulator
// (a test double: ACS cannot run here).
package acscli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/cli"
	"github.com/modelguard/modelguard/test/acsemulator"
)

const (
	clean    = "quay.io/acme-ml/sentiment-serving@sha256:7a76fabd5156c138e5a4921ba468b32c8fee33b4360b3fd6c3899117d95ebea5"
	critical = "quay.io/acme-ml/llm-gateway@sha256:190de6ac415911deabe8ce0b3541661a3aa7e2ac74d6fee3d6749debf17e75c1"
	partial  = "quay.io/acme-ml/distroless-runner@sha256:4943ae9ae3d9a1a3fbdd91f55fdaf1ea24e4cd0e89f044d4ba504c99bbcb8a35"
	token    = "cli-token-not-a-secret"
)

func TestACSScan(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	data, err := acsemulator.Load(filepath.Join(filepath.Dir(file), "..", "acsemulator", "testdata", "central.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	central := acsemulator.Start(t, data, token)
	secret := t.TempDir()
	for name, v := range map[string][]byte{"endpoint": []byte(central.Endpoint), "token": []byte(token + "\n"), "ca.crt": central.CAPEM} {
		if err := os.WriteFile(filepath.Join(secret, name), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Execute(append([]string{"acs", "scan", "--secret-dir", secret}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}

	if code, out, errOut := run("-i", clean); code != cli.ExitOK || !strings.Contains(out, "gate: PASS") {
		t.Fatalf("clean: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := run("-i", critical, "-o", "json")
	if code != cli.ExitDenied || !strings.Contains(errOut, "CVE-2025-32434") {
		t.Fatalf("critical: exit %d, stderr %q", code, errOut)
	}
	var roxctl struct {
		Result struct {
			Summary         map[string]int `json:"summary"`
			Vulnerabilities []struct {
				CVE string `json:"cveId"`
			} `json:"vulnerabilities"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &roxctl); err != nil || roxctl.Result.Summary["CRITICAL"] != 2 || roxctl.Result.Summary["TOTAL-VULNERABILITIES"] != 4 {
		t.Fatalf("roxctl-shaped JSON: %v\n%s", err, out)
	}
	if code, _, errOut := run("-i", critical, "--allow", "CVE-2025-32434,2099-01-01,runtime pin", "--allow", "CVE-2024-5535,2099-01-01,rebuild pending"); code != cli.ExitOK {
		t.Fatalf("allow-listed: exit %d %s", code, errOut)
	}
	if code, _, errOut := run("-i", partial); code != cli.ExitDenied || !strings.Contains(errOut, "IncompleteScan") {
		t.Fatalf("partial: exit %d %s", code, errOut)
	}
	if code, _, errOut := run("-i", "quay.io/acme-ml/sentiment-serving:1.4.0"); code != cli.ExitError || !strings.Contains(errOut, "no digest") {
		t.Fatalf("tag: exit %d %s", code, errOut)
	}
	if err := os.WriteFile(filepath.Join(secret, "token"), []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("-i", clean); code != cli.ExitError || !strings.Contains(strings.ToLower(errOut), "authenticat") || strings.Contains(errOut, token) {
		t.Fatalf("wrong token: exit %d %s", code, errOut)
	}
}
