// Package source fetches a model's source at one git commit: a shallow
// fetch of exactly that commit (or of a branch or tag tip), checked out
// into a directory, with the commit proven to be the one asked for and the
// checkout refused when it holds what a model build must not get — Git LFS
// pointers instead of weights, or symlinks out of the checkout.
//
// It speaks git's smart HTTP protocol through go-git: no git binary is
// needed, and nothing but the requested commit's objects is downloaded.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Options say what to fetch and where to.
type Options struct {
	// URL is the repository, http:// or https:// (git's smart HTTP).
	URL string
	// Revision is a full 40-hex commit SHA (what a push event names), a
	// branch, a tag, or a full ref (refs/heads/main).
	Revision string
	// Dir is where to check out; it must be empty or not exist.
	Dir string
	// Depth is how much history to fetch; default 1.
	Depth int
	// Username and Password authenticate over HTTP (a token as the
	// password works for GitHub and GitLab).
	Username, Password string
}

// Result is the commit checked out.
type Result struct {
	URL       string // the repository, without credentials
	Commit    string // its SHA
	Ref       string // the ref fetched (the SHA itself when fetched by SHA)
	Committed time.Time
	Subject   string // first line of the commit message
	Files     int    // regular files checked out
}

// fetchedRef is where the fetched commit is stored locally.
const fetchedRef = plumbing.ReferenceName("refs/modelguard/fetched")

var shaPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Validate names the first option that is wrong.
func (o Options) Validate() error {
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		return errors.New("url is required")
	case err != nil:
		return fmt.Errorf("url: %v", err)
	case u.Scheme != "https" && u.Scheme != "http":
		// file:// or a path would read the step's own file system.
		return fmt.Errorf("url %q: want an http:// or https:// repository URL", redact(o.URL))
	case u.Host == "":
		return fmt.Errorf("url %q has no host", redact(o.URL))
	case u.User != nil:
		return fmt.Errorf("url %q carries credentials: give them as username/password (a Secret), not in the URL", redact(o.URL))
	case o.Revision == "":
		return errors.New("revision is required (a commit SHA, branch or tag)")
	case strings.ContainsAny(o.Revision, " \t\n:~^?*[\\") || strings.HasPrefix(o.Revision, "-") || strings.Contains(o.Revision, ".."):
		return fmt.Errorf("revision %q is not a commit SHA or a valid ref name", o.Revision)
	case o.Dir == "":
		return errors.New("dir is required")
	case o.Depth < 0 || o.Depth > 1000:
		return fmt.Errorf("depth %d: want 1-1000", o.Depth)
	}
	return nil
}

// Fetch fetches o.Revision from o.URL into o.Dir and checks it out.
func Fetch(ctx context.Context, o Options) (*Result, error) {
	if o.Depth == 0 {
		o.Depth = 1
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := emptyDir(o.Dir); err != nil {
		return nil, err
	}
	// The objects go to a directory of their own, removed afterwards: the
	// checkout holds the commit's files and nothing else (no .git for a
	// model build to copy into an image).
	objects, err := os.MkdirTemp("", "modelguard-fetch-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(objects)
	store := filesystem.NewStorage(osfs.New(objects), cache.NewObjectLRUDefault())
	repo, err := git.Init(store, osfs.New(o.Dir))
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", o.Dir, err)
	}
	remote, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{o.URL}})
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	src, bySHA := o.Revision, shaPattern.MatchString(o.Revision)
	if !bySHA {
		if src, err = resolveRef(ctx, remote, o); err != nil {
			return nil, err
		}
	}
	var auth transport.AuthMethod
	if o.Username != "" || o.Password != "" {
		auth = &githttp.BasicAuth{Username: o.Username, Password: o.Password}
	}
	err = remote.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: []config.RefSpec{config.RefSpec("+" + src + ":" + string(fetchedRef))},
		Depth:    o.Depth,
		Tags:     git.NoTags,
		Auth:     auth,
	})
	switch {
	case errors.Is(err, git.ErrExactSHA1NotSupported):
		return nil, fmt.Errorf("%s does not let a client fetch a commit by SHA (git's uploadpack.allowReachableSHA1InWant); GitHub and GitLab do — or give a branch or tag as revision", redact(o.URL))
	case err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil, fmt.Errorf("fetch %s from %s: %w", o.Revision, redact(o.URL), err)
	}
	ref, err := repo.Reference(fetchedRef, true)
	if err != nil {
		return nil, fmt.Errorf("fetch %s from %s: nothing fetched: %w", o.Revision, redact(o.URL), err)
	}
	commit, err := verifiedCommit(repo, ref.Hash(), o.Revision, bySHA)
	if err != nil {
		return nil, err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: commit.Hash, Force: true}); err != nil {
		return nil, fmt.Errorf("check out %s: %w", commit.Hash, err)
	}
	// go-git leaves a ".git" file pointing at the object dir; git itself
	// never tracks a .git, so it is never the commit's.
	if err := os.Remove(filepath.Join(o.Dir, ".git")); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	files, err := CheckTree(o.Dir)
	if err != nil {
		return nil, err
	}
	subject, _, _ := strings.Cut(strings.TrimSpace(commit.Message), "\n")
	return &Result{URL: o.URL, Commit: commit.Hash.String(), Ref: src, Committed: commit.Committer.When.UTC(),
		Subject: subject, Files: files}, nil
}

// resolveRef turns a branch, tag or ref name into the full ref name the
// remote advertises: refs/heads/<r>, then refs/tags/<r>, then r itself.
func resolveRef(ctx context.Context, remote *git.Remote, o Options) (string, error) {
	var auth transport.AuthMethod
	if o.Username != "" || o.Password != "" {
		auth = &githttp.BasicAuth{Username: o.Username, Password: o.Password}
	}
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return "", fmt.Errorf("list refs of %s: %w", redact(o.URL), err)
	}
	names := map[string]bool{}
	for _, r := range refs {
		names[r.Name().String()] = true
	}
	for _, n := range []string{"refs/heads/" + o.Revision, "refs/tags/" + o.Revision, o.Revision} {
		if names[n] {
			return n, nil
		}
	}
	return "", fmt.Errorf("revision %q is not a commit SHA and %s has no such branch, tag or ref", o.Revision, redact(o.URL))
}

// verifiedCommit reads the commit fetched and proves it is the one asked
// for: its content hashes to the SHA requested (go-git indexes what it
// receives by the hash of the bytes, and it is hashed again here), and its
// tree is present in full.
func verifiedCommit(repo *git.Repository, got plumbing.Hash, revision string, bySHA bool) (*object.Commit, error) {
	if bySHA && got.String() != revision {
		return nil, fmt.Errorf("asked for commit %s, the server sent %s", revision, got)
	}
	obj, err := repo.Storer.EncodedObject(plumbing.CommitObject, got)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", got, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", got, err)
	}
	h := plumbing.NewHasher(plumbing.CommitObject, obj.Size())
	_, err = io.Copy(h, r)
	r.Close()
	if err != nil || h.Sum() != got {
		return nil, fmt.Errorf("commit %s does not hash to its name: the fetched objects are corrupt", got)
	}
	commit, err := object.DecodeCommit(repo.Storer, obj)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", got, err)
	}
	if _, err := commit.Tree(); err != nil {
		return nil, fmt.Errorf("tree of commit %s: %w", got, err)
	}
	return commit, nil
}

// emptyDir makes sure dir exists and holds nothing, so nothing from
// before is mistaken for the commit's content.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dir: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("dir: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("dir %s is not empty (it holds %s)", dir, filepath.Join(dir, entries[0].Name()))
	}
	return nil
}

// redact drops credentials from a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}
