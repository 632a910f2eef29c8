// Package gitserver is a real git server on loopback for tests and the
// demo: git's own `git http-backend` (smart HTTP, what GitHub and GitLab
// speak) run as CGI, with fetching by SHA allowed as those hosts allow it,
// and the git CLI to commit into its repositories. It also writes the
// webhook requests those hosts send on a push (events.go), signed or with
// a token, so a push can be replayed against an EventListener.
package gitserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Server serves the bare repositories under its root.
type Server struct {
	URL  string // http://127.0.0.1:<port>
	root string // bare repositories: <root>/<name>.git
	work string // work trees to commit from
	git  string
	srv  *http.Server
}

var repoName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Start serves repositories kept under dir (created if missing) on a free
// loopback port until Close.
func Start(dir string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s, err := StartOn(dir, l)
	if err != nil {
		l.Close()
	}
	return s, err
}

// StartOn is Start on l, e.g. a local cluster's PodListener, which its
// pods reach; Close closes l.
func StartOn(dir string, l net.Listener) (*Server, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, errors.New("git is not installed (hack/deps.sh installs it)")
	}
	s := &Server{root: filepath.Join(dir, "repos"), work: filepath.Join(dir, "work"), git: git}
	for _, d := range []string{s.root, s.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	s.URL = "http://" + l.Addr().String()
	handler := &cgi.Handler{Path: git, Args: []string{"http-backend"}, Env: []string{
		"GIT_PROJECT_ROOT=" + s.root, "GIT_HTTP_EXPORT_ALL=1", "HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1"}}
	s.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Close stops serving.
func (s *Server) Close() error { return s.srv.Close() }

// RepoURL is the clone URL of repository name.
func (s *Server) RepoURL(name string) string { return s.URL + "/" + name + ".git" }

// Create makes an empty bare repository and its work tree, on branch main.
func (s *Server) Create(name string) error {
	if !repoName.MatchString(name) {
		return fmt.Errorf("repository name %q: want lower case letters, digits and dashes", name)
	}
	bare, work := filepath.Join(s.root, name+".git"), filepath.Join(s.work, name)
	for _, d := range []string{bare, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		dir  string
		args []string
	}{
		{bare, []string{"init", "-q", "--bare", "-b", "main"}},
		// What GitHub and GitLab allow, and model-fetch relies on.
		{bare, []string{"config", "uploadpack.allowReachableSHA1InWant", "true"}},
		{work, []string{"init", "-q", "-b", "main"}},
	} {
		if _, err := s.run(c.dir, c.args...); err != nil {
			return err
		}
	}
	return nil
}

// Commit copies the files (relative path → content) and the directories
// in trees (relative target → source dir) into the work tree of name,
// commits them as author on branch and pushes; it returns the commit SHA.
func (s *Server) Commit(name, branch, message string, files map[string]string, trees map[string]string) (string, error) {
	work := filepath.Join(s.work, name)
	if _, err := s.run(work, "checkout", "-q", "-B", branch); err != nil {
		return "", err
	}
	for rel, content := range files {
		p := filepath.Join(work, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	for rel, src := range trees {
		if err := copyTree(src, filepath.Join(work, filepath.FromSlash(rel))); err != nil {
			return "", err
		}
	}
	if _, err := s.run(work, "add", "-A"); err != nil {
		return "", err
	}
	if _, err := s.run(work, "commit", "-q", "--allow-empty", "-m", message); err != nil {
		return "", err
	}
	if _, err := s.run(work, "push", "-q", "-f", filepath.Join(s.root, name+".git"), branch); err != nil {
		return "", err
	}
	sha, err := s.run(work, "rev-parse", "HEAD")
	return strings.TrimSpace(sha), err
}

// Parent returns the SHA of the commit before sha (the zero SHA for a
// first commit), as a push event's "before".
func (s *Server) Parent(name, sha string) string {
	out, err := s.run(filepath.Join(s.work, name), "rev-parse", "-q", "--verify", sha+"^")
	if err != nil {
		return ZeroSHA
	}
	return strings.TrimSpace(out)
}

func (s *Server) run(dir string, args ...string) (string, error) {
	cmd := exec.Command(s.git, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+filepath.Dir(s.root),
		"GIT_AUTHOR_NAME=Model Author", "GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_COMMITTER_NAME=Model Author", "GIT_COMMITTER_EMAIL=author@example.com")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

// copyTree copies the regular files of src into dst.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
