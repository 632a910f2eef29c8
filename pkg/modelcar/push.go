package modelcar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// streamer uploads a layer whose digest is not known yet in one pass: the
// tar is generated, hashed and sent at the same time, and the digest is
// given to the registry when the upload is committed (POST, PATCH, PUT
// ?digest= in the distribution API). That saves a whole read of the
// weights compared with hashing first.
type streamer struct {
	repo   name.Repository
	client *http.Client
	base   string // scheme://host
}

func newStreamer(ctx context.Context, repo name.Repository, keychain authn.Keychain) (*streamer, error) {
	auth, err := keychain.Resolve(repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo, err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, http.DefaultTransport, []string{repo.Scope(transport.PushScope)})
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", repo.RegistryStr(), err)
	}
	return &streamer{repo: repo, client: &http.Client{Transport: rt}, base: repo.Registry.Scheme() + "://" + repo.RegistryStr()}, nil
}

// upload streams the layer, retrying the whole upload on server errors and
// broken connections (1s, then 3s), and fills in its digest and size.
func (s *streamer) upload(ctx context.Context, l *tarLayer, fileSums bool) error {
	var err error
	for attempt, wait := 0, time.Second; attempt < 3; attempt, wait = attempt+1, wait*3 {
		if attempt > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var retry bool
		if retry, err = s.uploadOnce(ctx, l, fileSums); err == nil || !retry {
			return err
		}
	}
	return err
}

func (s *streamer) uploadOnce(ctx context.Context, l *tarLayer, fileSums bool) (retry bool, err error) {
	loc, retry, err := s.do(ctx, http.MethodPost, s.base+"/v2/"+s.repo.RepositoryStr()+"/blobs/uploads/", nil, http.StatusAccepted)
	if err != nil {
		return retry, err
	}
	h := sha256.New()
	counter := &countingWriter{w: h}
	var sums []string
	if fileSums {
		sums = make([]string, len(l.files))
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(io.MultiWriter(pw, counter), l.files, l.mtime, sums)) }()
	loc, retry, err = s.do(ctx, http.MethodPatch, loc, pr, http.StatusAccepted, http.StatusNoContent)
	pr.CloseWithError(io.ErrClosedPipe) // stop the writer if the request ended early
	if err != nil {
		return retry, err
	}
	digest := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	commit, err := withQuery(loc, "digest", digest.String())
	if err != nil {
		return false, err
	}
	if _, retry, err = s.do(ctx, http.MethodPut, commit, nil, http.StatusCreated); err != nil {
		return retry, err
	}
	l.digest, l.size, l.fileSums = digest, counter.n, sums
	return false, nil
}

// do sends one request and returns the absolute Location of the answer.
func (s *streamer) do(ctx context.Context, method, u string, body io.Reader, ok ...int) (location string, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := s.client.Do(req)
	if err != nil {
		return "", ctx.Err() == nil, fmt.Errorf("%s %s: %w", method, redact(u), err)
	}
	defer resp.Body.Close()
	for _, code := range ok {
		if resp.StatusCode == code {
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				return "", false, fmt.Errorf("%s %s: bad Location: %w", method, redact(u), err)
			}
			return loc.String(), false, nil
		}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return "", retry, fmt.Errorf("%s %s: %s: %s", method, redact(u), resp.Status, strings.TrimSpace(string(msg)))
}

func withQuery(u, key, value string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	q := parsed.Query()
	q.Set(key, value)
	parsed.RawQuery = q.Encode()
	return parsed.String(), nil
}

// redact drops query strings from URLs in errors: upload URLs can carry
// state tokens some registries treat as credentials.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
