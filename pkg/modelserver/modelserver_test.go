package modelserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hexSum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func TestLoadDigestIsSha256sumOfSha256sum(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "config.json", `{"model_type":"demo"}`)
	write(t, dir, "weights/model.safetensors", "0123456789")
	m, err := Load("demo", dir)
	if err != nil {
		t.Fatal(err)
	}
	// What `find . -type f | sort | xargs sha256sum | sha256sum` prints.
	listing := fmt.Sprintf("%s  ./config.json\n%s  ./weights/model.safetensors\n", hexSum(`{"model_type":"demo"}`), hexSum("0123456789"))
	if want := "sha256:" + hexSum(listing); m.Digest != want || m.Files != 2 || m.Bytes != 31 {
		t.Errorf("model = %+v; want digest %s, 2 files, 31 bytes", m, want)
	}
	// One changed byte changes the digest.
	write(t, dir, "weights/model.safetensors", "0123456780")
	if m2, _ := Load("demo", dir); m2.Digest == m.Digest {
		t.Error("the digest did not change with the content")
	}
}

func TestLoadRefuses(t *testing.T) {
	empty := t.TempDir()
	if _, err := Load("m", empty); err == nil || !strings.Contains(err.Error(), "no files") {
		t.Errorf("empty: %v", err)
	}
	if _, err := Load("m", filepath.Join(empty, "missing")); err == nil {
		t.Error("missing dir loaded")
	}
	escape := t.TempDir()
	write(t, escape, "config.json", "{}")
	if err := os.Symlink("/etc/hostname", filepath.Join(escape, "leak")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load("m", escape); err == nil || !strings.Contains(err.Error(), "outside the model") {
		t.Errorf("symlink out: %v", err)
	}
}

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "config.json", "{}")
	m, err := Load("granite", dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(m))
	t.Cleanup(srv.Close)
	get := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, _ := get("GET", "/v2/health/ready", ""); code != 200 {
		t.Errorf("ready: %d", code)
	}
	if code, out := get("GET", "/v2/models/granite", ""); code != 200 || out["digest"] != m.Digest {
		t.Errorf("metadata: %d %v", code, out)
	}
	if code, _ := get("GET", "/v2/models/other", ""); code != 404 {
		t.Errorf("other model: %d", code)
	}
	if code, out := get("POST", "/v2/models/granite/infer", `{"inputs":[]}`); code != 200 || !strings.Contains(fmt.Sprint(out["outputs"]), "sha256:"+hexSum(`{"inputs":[]}`)) {
		t.Errorf("infer: %d %v", code, out)
	}
	if code, _ := get("POST", "/v2/models/granite/infer", strings.Repeat("x", maxInferBody+1)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("huge infer: %d", code)
	}
	if code, _ := get("DELETE", "/v2/models/granite", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", code)
	}
}

// KServe links /mnt/models to the modelcar's /models: a symlinked root
// is walked through, and gives the digest of what it points at.
func TestLoadThroughSymlinkedRoot(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "models/config.json", "{}")
	link := filepath.Join(dir, "mnt-models")
	if err := os.Symlink(filepath.Join(dir, "models"), link); err != nil {
		t.Fatal(err)
	}
	direct, err := Load("m", filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	linked, err := Load("m", link)
	if err != nil {
		t.Fatal(err)
	}
	if linked.Digest != direct.Digest || linked.Files != 1 {
		t.Errorf("through the link: %+v, want %+v", linked, direct)
	}
}
