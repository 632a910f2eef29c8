package modelcar

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// A model path that leads out of the directory the caller allows is
// refused, whether by "..", by a symlinked model directory, or by a
// symlinked parent; the same tree inside is accepted.
func TestOpenModelStaysWithin(t *testing.T) {
	root := t.TempDir()
	ws := filepath.Join(root, "workspace", "model")
	secrets := filepath.Join(root, "workspace", "dockerconfig")
	for _, d := range []string{filepath.Join(ws, "granite"), secrets} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(secrets, "config.json"), `{"auths":{"registry":{"auth":"c2VjcmV0"}}}`)
	write(t, filepath.Join(ws, "granite", "config.json"), "{}")
	if err := os.Symlink("../dockerconfig", filepath.Join(ws, "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secrets, filepath.Join(ws, "absolute")); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{
		filepath.Join(ws, "../dockerconfig"):            "is outside " + ws,
		filepath.Join(ws, "granite/../../dockerconfig"): "is outside " + ws,
		filepath.Join(ws, "linked"):                     "resolves outside " + ws,
		filepath.Join(ws, "absolute"):                   "resolves outside " + ws,
		"/etc":                                          "is outside " + ws,
	} {
		if m, err := OpenModel(dir, ws); err == nil || !strings.Contains(err.Error(), want) {
			if m != nil {
				t.Errorf("%s: read %d files from outside %s", dir, len(m.Files), ws)
				m.Close()
			}
			t.Errorf("%s: err = %v; want %q", dir, err, want)
		}
	}
	m, err := OpenModel(filepath.Join(ws, "granite"), ws)
	if err != nil || len(m.Files) != 1 || m.Files[0].Rel != "config.json" {
		t.Fatalf("model inside the workspace: %v", err)
	}
	m.Close()
}

// A file swapped after the layout check, for a symlink (inside or outside
// the model) or for another file, or edited in place, is refused when it
// is read, with its name.
func TestSwapAfterLayoutCheckIsRefused(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	write(t, outside, `{"auths":{}}`)
	for name, tc := range map[string]struct {
		swap func(t *testing.T, dir string)
		want string
	}{
		"symlink out": {func(t *testing.T, dir string) { relink(t, outside, filepath.Join(dir, "tokenizer.json")) },
			"tokenizer.json: replaced by a symlink after the layout check"},
		"symlink in": {func(t *testing.T, dir string) { relink(t, "config.json", filepath.Join(dir, "tokenizer.json")) },
			"tokenizer.json: replaced by a symlink after the layout check"},
		"other file": {func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "new"), "{}")
			if err := os.Rename(filepath.Join(dir, "new"), filepath.Join(dir, "tokenizer.json")); err != nil {
				t.Fatal(err)
			}
		}, "tokenizer.json: replaced by another file after the layout check"},
		"same-size edit": {func(t *testing.T, dir string) {
			info, _ := os.Stat(filepath.Join(dir, "tokenizer.json"))
			write(t, filepath.Join(dir, "tokenizer.json"), "[]")
			// Restoring the mtime does not hide the edit: ctime moved.
			if err := os.Chtimes(filepath.Join(dir, "tokenizer.json"), info.ModTime(), info.ModTime()); err != nil {
				t.Fatal(err)
			}
		}, "tokenizer.json: changed after the layout check"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := model(t, hfModel)
			m := open(t, dir)
			if err := CheckLayout(VLLM, m.Files); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // a later timestamp tick for the edit
			tc.swap(t, dir)
			for _, l := range plan(t, m, 4000) {
				err := l.hash(false)
				if len(l.files) > 1 && (err == nil || !strings.Contains(err.Error(), tc.want)) {
					t.Fatalf("err = %v; want %q", err, tc.want)
				}
			}
		})
	}
}

// A file truncated while it is mapped faults on the next page read; the
// build reports it by name instead of crashing.
func TestTruncatedWhileReadIsAnError(t *testing.T) {
	dir := model(t, map[string]string{"w.bin": strings.Repeat("x", 3*windowSize)})
	fh, err := os.Open(filepath.Join(dir, "w.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var sum byte
	err = eachWindow(fh, "w.bin", 3*windowSize, func(win []byte, off int64) error {
		if err := os.Truncate(filepath.Join(dir, "w.bin"), 0); err != nil {
			t.Fatal(err)
		}
		for _, b := range win {
			sum += b
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "w.bin: changed while building") {
		t.Fatalf("err = %v (sum %d)", err, sum)
	}
}

// The layer stream is exactly what archive/tar writes for the same entries,
// long names (PAX records) and empty files included.
func TestLayoutIsArchiveTar(t *testing.T) {
	long := strings.Repeat("very-long-directory-name/", 12) + "weights.safetensors"
	files := map[string]string{"config.json": "{}", "empty.txt": "", "1/model.bin": strings.Repeat("y", 1025), long: "w", "run.sh": "#!/bin/sh\n"}
	dir := model(t, files)
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := open(t, dir)
	l := plan(t, m, 1<<30)[0]
	var got bytes.Buffer
	if err := l.emit(&got, nil); err != nil {
		t.Fatal(err)
	}

	var want bytes.Buffer
	tw := tar.NewWriter(&want)
	names := map[string]bool{}
	for p := range files {
		for d := path.Dir(path.Join(ModelRoot, p)); d != "."; d = path.Dir(d) {
			names[d+"/"] = true
		}
		names[path.Join(ModelRoot, p)] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, strings.TrimSuffix(n, "/"))
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		content, isFile := files[strings.TrimPrefix(n, ModelRoot+"/")]
		hdr := &tar.Header{Name: n + "/", Typeflag: tar.TypeDir, Mode: 0o555, ModTime: epoch}
		if isFile && n != ModelRoot {
			hdr = &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o444, Size: int64(len(content)), ModTime: epoch}
			if strings.HasSuffix(n, ".sh") {
				hdr.Mode = 0o555
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) || int64(got.Len()) != l.size {
		t.Fatalf("layer stream differs from archive/tar's: %d vs %d bytes, layout said %d", got.Len(), want.Len(), l.size)
	}
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func relink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}
