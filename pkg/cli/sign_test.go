package cli

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
)

// sign, attest and verify through the CLI, with a key directory as a Task
// mounts a Secret, and every result file written.
func TestSignAttestVerify(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, _ := random.Image(128, 1)
	tag, _ := name.NewTag(host + "/models/m:1")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	ref := tag.String() + "@" + d.String()

	pw := []byte("a password that must never be printed")
	kp, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return pw, nil })
	if err != nil {
		t.Fatal(err)
	}
	keys, pub := t.TempDir(), t.TempDir()
	for dir, files := range map[string]map[string][]byte{
		keys: {"cosign.key": kp.PrivateBytes, "cosign.password": pw},
		pub:  {"cosign.pub": kp.PublicBytes},
	} {
		for n, b := range files {
			if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	pred := filepath.Join(t.TempDir(), "scan.json")
	if err := os.WriteFile(pred, []byte(`{"scanner":{"uri":"x","version":"1","result":{"verdict":"pass"}},"metadata":{"scanFinishedOn":"2099-01-01T00:00:00Z"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	results := t.TempDir()
	steps := [][]string{
		{"sign", "-i", ref, "--key-dir", keys, "--results-dir", results},
		{"attest", "-i", ref, "--key-dir", keys, "--type", "vuln", "--predicate", pred, "--results-dir", results},
		{"verify", "-i", ref, "--key-dir", pub, "--max-scan-age", "1h", "-o", "json", "--results-dir", results},
	}
	var all string
	for _, args := range steps {
		code, out, errOut := run(args...)
		all += out + errOut
		if args[0] == "verify" {
			// The scan finished "in the future": not older than an hour.
			if code != ExitOK || !strings.Contains(out, `"pass": true`) {
				t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
			}
			continue
		}
		if code != ExitOK {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	for _, n := range append([]string{"IMAGE", "PREDICATE_TYPE"}, "verified", "signature", "scan") {
		b, err := os.ReadFile(filepath.Join(results, n))
		if err != nil {
			t.Errorf("result %s: %v", n, err)
		}
		all += string(b)
	}
	if strings.Contains(all, string(pw)) || strings.Contains(all, "PRIVATE KEY") {
		t.Error("the output or a result quotes key material")
	}

	// Another key: exit 2, reason WrongKey, results still written.
	other, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run("verify", "-i", ref, "--key", string(other.PublicBytes), "--results-dir", results)
	reason, _ := os.ReadFile(filepath.Join(results, "reason"))
	if code != ExitDenied || string(reason) != "WrongKey" {
		t.Errorf("other key: exit %d, reason %q, %s", code, reason, errOut)
	}
	// --wait is bounded as the VerifyImage kind's wait param is: past an
	// hour (or negative) it is refused before anything is read.
	for _, wait := range []string{"2h", "-1s", "soon"} {
		code, _, errOut = run("verify", "-i", ref, "--key", string(other.PublicBytes), "--wait", wait)
		if code != ExitError || !strings.Contains(errOut, "--wait") || !strings.Contains(errOut, "from 0s to 1h") {
			t.Errorf("--wait %s: exit %d, %s", wait, code, errOut)
		}
	}
	// A wrong password says so, without the password.
	if err := os.WriteFile(filepath.Join(keys, "cosign.password"), []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run("sign", "-i", ref, "--key-dir", keys, "--results-dir", results)
	summary, _ := os.ReadFile(filepath.Join(results, "summary"))
	if code != ExitError || !strings.Contains(errOut, "cannot load the private key") || !strings.Contains(string(summary), "cannot load") {
		t.Errorf("wrong password: exit %d, %s, summary %q", code, errOut, summary)
	}
}
