package localcluster

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// GitServer serves bare repositories over git's smart HTTP protocol, the
// way a git forge does, with `git http-backend`, for pods and the
// resolvers to clone from.
type GitServer struct {
	// URL is "http://<PodHost>:<port>"; a repository dir/<name>.git is at
	// URL/<name>.git.
	URL string
	srv *http.Server
}

// ServeGit serves the bare repositories under root until the cluster
// stops, on a PodListener. Fetching any commit by its SHA is allowed
// (uploadpack.allowReachableSHA1InWant), as forges allow, so a resolver
// can pin a revision.
func (c *Cluster) ServeGit(root string) (*GitServer, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("git server: needs git: %w", err)
	}
	l, err := c.PodListener()
	if err != nil {
		return nil, err
	}
	h := &cgi.Handler{
		Path: git,
		Args: []string{"http-backend"},
		Dir:  root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			// Nothing of this machine's git configuration applies.
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + root,
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=uploadpack.allowReachableSHA1InWant",
			"GIT_CONFIG_VALUE_0=true",
		},
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	c.mu.Lock()
	c.onStop = append(c.onStop, func() { _ = srv.Close() })
	c.mu.Unlock()
	return &GitServer{URL: "http://" + l.Addr().String(), srv: srv}, nil
}

// Close stops the server before the cluster does.
func (g *GitServer) Close() { _ = g.srv.Close() }

// PublishCommit makes root/<name>.git a bare clone of the repository at
// src holding exactly commit (and what it reaches) as branch main, and
// returns the commit's full SHA.
func PublishCommit(ctx context.Context, src, commit, root, name string) (string, error) {
	git := func(dir string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return strings.TrimSpace(string(out)), nil
	}
	sha, err := git(src, "rev-parse", "--verify", commit+"^{commit}")
	if err != nil {
		return "", err
	}
	bare := filepath.Join(root, name+".git")
	if err := os.MkdirAll(bare, 0o755); err != nil {
		return "", fmt.Errorf("git server: %w", err)
	}
	if _, err := git(bare, "init", "--bare", "--quiet", "--initial-branch=main"); err != nil {
		return "", err
	}
	if _, err := git(src, "push", "--quiet", bare, sha+":refs/heads/main"); err != nil {
		return "", err
	}
	return sha, nil
}
