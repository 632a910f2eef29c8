package ociregistry

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// randomImage has two layers plus a config blob: three blobs per push.
func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func push(t *testing.T, r *Registry, ref string, img v1.Image, opts ...remote.Option) error {
	t.Helper()
	tag, err := name.NewTag(r.Host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Write(tag, img, opts...)
}

func wantCounts(t *testing.T, r *Registry, repo string, puts, heads, manifests int) {
	t.Helper()
	if got := r.BlobPuts(); got != puts {
		t.Errorf("BlobPuts = %d, want %d", got, puts)
	}
	if got := r.BlobHeads(); got != heads {
		t.Errorf("BlobHeads = %d, want %d", got, heads)
	}
	if got := r.ManifestPuts(repo); got != manifests {
		t.Errorf("ManifestPuts(%q) = %d, want %d", repo, got, manifests)
	}
}

func TestPushCountsAndSkips(t *testing.T) {
	r := Start(t)
	img := randomImage(t)
	const repo = "models/granite"

	if err := push(t, r, repo+":v1", img); err != nil {
		t.Fatal(err)
	}
	// One HEAD per blob (all 404), then one upload each.
	wantCounts(t, r, repo, 3, 3, 1)

	// Same image, new tag: the manifest HEAD for the new tag misses, so ggcr
	// HEADs every blob, finds them and uploads nothing.
	r.Reset()
	if err := push(t, r, repo+":v2", img); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, r, repo, 0, 3, 1)

	// Same image, same tag: ggcr's pusher HEADs the manifest first and stops
	// there, so not even the blobs are HEADed.
	r.Reset()
	if err := push(t, r, repo+":v1", img); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, r, repo, 0, 0, 0)

	tags, err := r.Tags(repo)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Errorf("Tags = %v, want [v1 v2]", tags)
	}
	if _, err := r.Tags("no/such/repo"); err == nil {
		t.Error("Tags of an unknown repo: want error")
	}
}

// With ggcr's default options a failed upload is retried from the top (HEAD,
// POST, PATCH, PUT) after ~1s, so one injected failure does not fail the push.
func TestInjectedFailureIsRetriedByDefault(t *testing.T) {
	r := Start(t)
	r.FailNextBlobUploads(1)
	if err := push(t, r, "retry/img:v1", randomImage(t)); err != nil {
		t.Fatalf("push with one injected failure: %v", err)
	}
	// The failed request never reached the registry, so every blob still
	// completes exactly once; the retried blob is HEADed twice.
	wantCounts(t, r, "retry/img", 3, 4, 1)
}

// With retries disabled the same failure surfaces as the push error, and the
// registry serves normally afterwards.
func TestInjectedFailureWithoutRetryFailsPush(t *testing.T) {
	r := Start(t)
	noRetry := remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Steps: 1})
	img := randomImage(t)

	r.FailNextBlobUploads(1)
	err := push(t, r, "fail/img:v1", img, noRetry)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusInternalServerError {
		t.Fatalf("push error = %v, want a transport.Error with HTTP 500", err)
	}
	if err := push(t, r, "fail/img:v1", img, noRetry); err != nil {
		t.Fatalf("push after the injected failure: %v", err)
	}
	if got := r.ManifestPuts("fail/img"); got != 1 {
		t.Errorf("ManifestPuts = %d, want 1", got)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		path string
		kind pathKind
		repo string
	}{
		{"/v2/", pathOther, ""},
		{"/v2/a/b/blobs/uploads/", pathUpload, "a/b"},
		{"/v2/a/b/blobs/uploads/123", pathUpload, "a/b"},
		{"/v2/a/blobs/sha256:abc", pathBlob, "a"},
		{"/v2/a/b/c/manifests/v1", pathManifest, "a/b/c"},
		{"/v2/a/tags/list", pathOther, ""},
	} {
		kind, repo := classify(tc.path)
		if kind != tc.kind || repo != tc.repo {
			t.Errorf("classify(%q) = %v %q, want %v %q", tc.path, kind, repo, tc.kind, tc.repo)
		}
	}
}
