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

// central is the emulator and a mounted-Secret-like dir pointing at it.
type central struct {
	*acsemulator.Server
	secret string
}

func startCentral(t *testing.T) *central {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	data, err := acsemulator.Load(filepath.Join(filepath.Dir(file), "..", "acsemulator", "testdata", "central.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := &central{Server: acsemulator.Start(t, data, token), secret: t.TempDir()}
	for name, v := range map[string][]byte{"endpoint": []byte(c.Endpoint), "token": []byte(token + "\n"), "ca.crt": c.CAPEM} {
		if err := os.WriteFile(filepath.Join(c.secret, name), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// base: retries stay on (the retry path is exercised) with short waits.
func (c *central) base(cmd string) []string {
	return []string{"acs", cmd, "--secret-dir", c.secret, "--retry-delay", "5ms"}
}

// run runs `modelguard acs <args[0]> --secret-dir … <args[1:]…>`.
func (c *central) run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cli.Execute(append(c.base(args[0]), args[1:]...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestACSScan(t *testing.T) {
	c := startCentral(t)
	run := func(args ...string) (int, string, string) { return c.run(append([]string{"scan"}, args...)...) }

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
	// After --, as a Tekton array param expands; an expired entry does not count.
	if code, _, errOut := run("-i", critical, "--allow", "CVE-2025-32434,2099-01-01,runtime pin", "--", "CVE-2024-5535,2020-01-01,expired", ""); code != cli.ExitDenied || !strings.Contains(errOut, "CVE-2024-5535") {
		t.Fatalf("expired allow: exit %d %s", code, errOut)
	}
	if code, _, errOut := run("-i", critical, "stray"); code != cli.ExitError || !strings.Contains(errOut, "after --") {
		t.Fatalf("stray arg: exit %d %s", code, errOut)
	}
	if code, _, errOut := run("-i", partial); code != cli.ExitDenied || !strings.Contains(errOut, "IncompleteScan") {
		t.Fatalf("partial: exit %d %s", code, errOut)
	}
	if code, _, errOut := run("-i", noScanData); code != cli.ExitDenied || !strings.Contains(errOut, "NoScanData") {
		t.Fatalf("no scan data: exit %d %s", code, errOut)
	}
	if code, _, errOut := run("-i", "quay.io/acme-ml/sentiment-serving:1.4.0"); code != cli.ExitError || !strings.Contains(errOut, "no digest") {
		t.Fatalf("tag: exit %d %s", code, errOut)
	}
	if err := os.WriteFile(filepath.Join(c.secret, "token"), []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("-i", clean); code != cli.ExitError || !strings.Contains(strings.ToLower(errOut), "authenticat") || strings.Contains(errOut, token) {
		t.Fatalf("wrong token: exit %d %s", code, errOut)
	}
}
