package gitserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"testing"

	"github.com/modelguard/modelguard/pkg/source"
)

// A commit made here is fetched by SHA by the engine model-fetch runs,
// through git's own server.
func TestCommitThenFetchBySHA(t *testing.T) {
	s, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Create("tiny"); err != nil {
		t.Fatal(err)
	}
	sha, err := s.Commit("tiny", "main", "add the model", map[string]string{"model/config.json": "{}"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := source.Fetch(context.Background(), source.Options{URL: s.RepoURL("tiny"), Revision: sha, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != sha || res.Files != 1 {
		t.Errorf("fetched %+v, want %s with 1 file", res, sha)
	}
	if s.Parent("tiny", sha) != ZeroSHA {
		t.Errorf("the first commit has a parent")
	}
}

// The signature is GitHub's: HMAC-SHA256 of the exact body, hex, with the
// sha256= prefix; the body names the commit and where to fetch it.
func TestGitHubRequestIsSigned(t *testing.T) {
	p := Push{Repo: "tiny", CloneURL: "http://127.0.0.1:1/tiny.git", Branch: "main", Before: ZeroSHA, After: "ab" + ZeroSHA[2:], Pusher: "alice"}
	req, err := p.GitHubRequest("http://127.0.0.1:1/", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write(body)
	if got, want := req.Header.Get("X-Hub-Signature-256"), "sha256="+hex.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
	var ev struct {
		Ref, After string
		Repository struct {
			CloneURL string `json:"clone_url"`
		}
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Ref != "refs/heads/main" || ev.After != p.After || ev.Repository.CloneURL != p.CloneURL {
		t.Errorf("body %s (%v)", body, err)
	}
	gl, err := p.GitLabRequest("http://127.0.0.1:1/", "tok")
	if err != nil || gl.Header.Get("X-Gitlab-Token") != "tok" || gl.Header.Get("X-Gitlab-Event") != "Push Hook" {
		t.Errorf("gitlab request headers %v (%v)", gl.Header, err)
	}
}
