package gitserver

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"
)

// ZeroSHA is what a push event names as "before" for a new branch and as
// "after" for a deleted one.
const ZeroSHA = "0000000000000000000000000000000000000000"

// Push is one push to a repository, as a webhook reports it.
type Push struct {
	Repo     string // repository name on the server
	CloneURL string // what the fetch uses
	Branch   string // e.g. main
	Before   string // the branch's previous tip (ZeroSHA if new)
	After    string // the commit pushed
	Message  string
	Pusher   string
}

// GitHubRequest builds the request GitHub sends for the push to url: a
// push event body in GitHub's shape, the X-GitHub-Event and delivery
// headers, and the body's HMAC-SHA256 under secret in X-Hub-Signature-256
// (and the legacy SHA-1 one).
func (p Push) GitHubRequest(url, secret string) (*http.Request, error) {
	owner, name := "models", p.Repo
	commit := map[string]any{
		"id": p.After, "tree_id": strings.Repeat("0", 40), "distinct": true, "message": p.Message,
		"timestamp": time.Now().UTC().Format(time.RFC3339),
		"url":       fmt.Sprintf("https://github.example.com/%s/%s/commit/%s", owner, name, p.After),
		"author":    map[string]any{"name": p.Pusher, "email": p.Pusher + "@example.com", "username": p.Pusher},
		"committer": map[string]any{"name": p.Pusher, "email": p.Pusher + "@example.com", "username": p.Pusher},
		"added":     []string{}, "removed": []string{}, "modified": []string{},
	}
	body := map[string]any{
		"ref": "refs/heads/" + p.Branch, "before": p.Before, "after": p.After,
		"created": p.Before == ZeroSHA, "deleted": p.After == ZeroSHA, "forced": false,
		"base_ref": nil, "compare": fmt.Sprintf("https://github.example.com/%s/%s/compare/%s...%s", owner, name, short(p.Before), short(p.After)),
		"commits": []any{commit}, "head_commit": commit,
		"repository": map[string]any{
			"id": 123456, "node_id": "R_kgDOexample", "name": name, "full_name": owner + "/" + name, "private": false,
			"owner":    map[string]any{"name": owner, "login": owner, "id": 7, "type": "Organization"},
			"html_url": "https://github.example.com/" + owner + "/" + name, "clone_url": p.CloneURL,
			"git_url": "git://github.example.com/" + owner + "/" + name + ".git", "ssh_url": "git@github.example.com:" + owner + "/" + name + ".git",
			"default_branch": "main", "master_branch": "main", "pushed_at": time.Now().Unix(),
		},
		"pusher": map[string]any{"name": p.Pusher, "email": p.Pusher + "@example.com"},
		"sender": map[string]any{"login": p.Pusher, "id": 42, "type": "User"},
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/2b5e2e6")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery())
	req.Header.Set("X-GitHub-Hook-ID", "987654")
	req.Header.Set("X-Hub-Signature-256", "sha256="+mac(sha256.New, secret, data))
	req.Header.Set("X-Hub-Signature", "sha1="+mac(sha1.New, secret, data))
	return req, nil
}

// GitLabRequest builds the request GitLab sends for the push to url: a
// push hook body in GitLab's shape, X-Gitlab-Event: Push Hook, and the
// webhook's secret token in X-Gitlab-Token.
func (p Push) GitLabRequest(url, token string) (*http.Request, error) {
	path := "models/" + p.Repo
	project := map[string]any{
		"id": 4242, "name": p.Repo, "path_with_namespace": path, "namespace": "models", "default_branch": "main",
		"web_url": "https://gitlab.example.com/" + path, "git_http_url": p.CloneURL,
		"git_ssh_url": "git@gitlab.example.com:" + path + ".git", "visibility_level": 0,
	}
	checkout := any(p.After)
	if p.After == ZeroSHA {
		checkout = nil
	}
	body := map[string]any{
		"object_kind": "push", "event_name": "push", "before": p.Before, "after": p.After,
		"ref": "refs/heads/" + p.Branch, "ref_protected": true, "checkout_sha": checkout,
		"user_id": 7, "user_name": p.Pusher, "user_username": p.Pusher, "user_email": "",
		"project_id": 4242, "project": project,
		"commits": []any{map[string]any{
			"id": p.After, "message": p.Message, "title": p.Message, "timestamp": time.Now().UTC().Format(time.RFC3339),
			"url":    "https://gitlab.example.com/" + path + "/-/commit/" + p.After,
			"author": map[string]any{"name": p.Pusher, "email": "[REDACTED]"},
			"added":  []string{}, "modified": []string{}, "removed": []string{},
		}},
		"total_commits_count": 1,
		"repository": map[string]any{"name": p.Repo, "url": "git@gitlab.example.com:" + path + ".git",
			"homepage": "https://gitlab.example.com/" + path, "git_http_url": p.CloneURL,
			"git_ssh_url": "git@gitlab.example.com:" + path + ".git", "visibility_level": 0},
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitLab/18.5.1")
	req.Header.Set("X-Gitlab-Event", "Push Hook")
	req.Header.Set("X-Gitlab-Event-UUID", delivery())
	req.Header.Set("X-Gitlab-Instance", "https://gitlab.example.com")
	req.Header.Set("X-Gitlab-Token", token)
	return req, nil
}

func mac(h func() hash.Hash, secret string, data []byte) string {
	m := hmac.New(h, []byte(secret))
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

func delivery() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
