package source

import (
	"context"
	"errors"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitRepo makes a bare repository served by the real `git http-backend`
// (git's own smart HTTP server, run as CGI) and a work tree to commit
// into. It returns the repository URL and a commit function.
func gitRepo(t *testing.T, allowSHA bool) (string, func(files map[string]string, msg string) string) {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed (hack/deps.sh installs it)")
	}
	root := t.TempDir()
	bare, work := filepath.Join(root, "srv", "model.git"), filepath.Join(root, "work")
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(gitBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+root)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, d := range []string{bare, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	git(bare, "init", "--bare", "-b", "main")
	git(bare, "config", "http.receivepack", "true")
	if allowSHA {
		git(bare, "config", "uploadpack.allowReachableSHA1InWant", "true")
	}
	git(work, "init", "-b", "main")
	srv := httptest.NewServer(&cgi.Handler{Path: gitBin, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(bare), "GIT_HTTP_EXPORT_ALL=1", "HOME=" + root}})
	t.Cleanup(srv.Close)
	commit := func(files map[string]string, msg string) string {
		for name, content := range files {
			p := filepath.Join(work, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(content, "symlink:") {
				_ = os.Remove(p)
				if err := os.Symlink(strings.TrimPrefix(content, "symlink:"), p); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		git(work, "add", "-A")
		git(work, "commit", "-q", "-m", msg)
		git(work, "push", "-q", "-f", bare, "main")
		return git(work, "rev-parse", "HEAD")
	}
	return srv.URL + "/model.git", commit
}

func TestFetchCommitBySHA(t *testing.T) {
	url, commit := gitRepo(t, true)
	first := commit(map[string]string{"model/config.json": `{"a":1}`, "README.md": "tiny"}, "first model\n\nbody")
	second := commit(map[string]string{"model/config.json": `{"a":2}`}, "second")
	ctx := context.Background()

	// The older commit, though main has moved on: a push event's SHA.
	dir := t.TempDir()
	res, err := Fetch(ctx, Options{URL: url, Revision: first, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != first || res.Subject != "first model" || res.Files != 2 {
		t.Errorf("result = %+v, want commit %s, subject \"first model\", 2 files", res, first)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "model", "config.json")); string(b) != `{"a":1}` {
		t.Errorf("checked out config.json = %q, want the first commit's", b)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); !os.IsNotExist(err) {
		t.Errorf("the checkout holds .git (%v): a model build would copy it", err)
	}
	if time.Since(res.Committed) > time.Hour {
		t.Errorf("committed = %s", res.Committed)
	}

	// A branch name gets its tip.
	dir2 := t.TempDir()
	res, err = Fetch(ctx, Options{URL: url, Revision: "main", Dir: dir2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != second || res.Ref != "refs/heads/main" {
		t.Errorf("main: %+v, want %s from refs/heads/main", res, second)
	}
}

func TestFetchRefusesWhatItCannotVouchFor(t *testing.T) {
	url, commit := gitRepo(t, true)
	ctx := context.Background()
	pointer := "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 4212345678\n"
	lfs := commit(map[string]string{"model/model.safetensors": pointer, "model/config.json": "{}"}, "weights in LFS")
	_, err := Fetch(ctx, Options{URL: url, Revision: lfs, Dir: t.TempDir()})
	var lfsErr *LFSError
	if !errors.As(err, &lfsErr) || len(lfsErr.Pointers) != 1 || lfsErr.Pointers[0].Path != "model/model.safetensors" {
		t.Fatalf("LFS pointer: err = %v, want an LFSError naming model/model.safetensors", err)
	}
	if !strings.Contains(err.Error(), "Git LFS pointers") || !strings.Contains(err.Error(), "4212345678 bytes") {
		t.Errorf("message does not say what is wrong: %v", err)
	}

	escape := commit(map[string]string{"model/model.safetensors": "weights", "model/passwd": "symlink:../../../etc/passwd"}, "escape")
	if _, err := Fetch(ctx, Options{URL: url, Revision: escape, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "outside the repository") {
		t.Errorf("symlink out of the checkout: err = %v", err)
	}

	// A SHA the server does not have.
	missing := strings.Repeat("ab", 20)
	if _, err := Fetch(ctx, Options{URL: url, Revision: missing, Dir: t.TempDir()}); err == nil {
		t.Error("a commit the server does not have was fetched")
	}
}

func TestFetchNeedsSHAWants(t *testing.T) {
	url, commit := gitRepo(t, false)
	sha := commit(map[string]string{"a": "b"}, "one")
	_, err := Fetch(context.Background(), Options{URL: url, Revision: sha, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "allowReachableSHA1InWant") {
		t.Errorf("server without SHA wants: err = %v, want a message naming allowReachableSHA1InWant", err)
	}
}

func TestValidate(t *testing.T) {
	ok := Options{URL: "https://git.example.com/m.git", Revision: "main", Dir: "/x"}
	for name, tc := range map[string]struct {
		mutate func(*Options)
		want   string
	}{
		"file url":    {func(o *Options) { o.URL = "file:///etc" }, "http:// or https://"},
		"plain path":  {func(o *Options) { o.URL = "/srv/repo" }, "http:// or https://"},
		"credentials": {func(o *Options) { o.URL = "https://u:secret@git.example.com/m.git" }, "carries credentials"},
		"option-like": {func(o *Options) { o.Revision = "--upload-pack=x" }, "not a commit SHA"},
		"dots":        {func(o *Options) { o.Revision = "main..evil" }, "not a commit SHA"},
		"no revision": {func(o *Options) { o.Revision = "" }, "revision is required"},
		"depth":       {func(o *Options) { o.Depth = 5000 }, "depth"},
	} {
		o := ok
		tc.mutate(&o)
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

func TestFetchRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stale"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Fetch(context.Background(), Options{URL: "http://127.0.0.1:1/x.git", Revision: "main", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("err = %v", err)
	}
}
