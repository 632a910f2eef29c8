package modelcar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// registry uploads model layers with the distribution API (POST, then PATCH
// and PUT ?digest=, or PUT ?digest= with the body). It writes the request
// bodies itself (see direct.go) so that file contents can go from the page
// cache to the socket; everything else, including authentication, goes
// through go-containerregistry's transport.
type registry struct {
	repo      name.Repository
	client    *http.Client
	auth      *authRecorder
	base      string // scheme://host
	transport http.RoundTripper
}

func newRegistry(ctx context.Context, repo name.Repository, keychain authn.Keychain, rt http.RoundTripper) (*registry, error) {
	auth, err := keychain.Resolve(repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo, err)
	}
	rec := &authRecorder{inner: rt, host: repo.RegistryStr()}
	authed, err := transport.NewWithContext(ctx, repo.Registry, auth, rec, []string{repo.Scope(transport.PushScope)})
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", repo.RegistryStr(), err)
	}
	return &registry{repo: repo, client: &http.Client{Transport: authed}, auth: rec,
		base: repo.Registry.Scheme() + "://" + repo.RegistryStr(), transport: rt}, nil
}

// authRecorder sits under the authenticating transport and remembers the
// Authorization header it sends to the registry, so the bodies written
// directly carry the same credentials. It is only ever sent back to the
// registry's own host.
type authRecorder struct {
	inner http.RoundTripper
	host  string
	mu    sync.Mutex
	value string
}

func (a *authRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if v := req.Header.Get("Authorization"); v != "" && req.URL.Host == a.host {
		a.mu.Lock()
		a.value = v
		a.mu.Unlock()
	}
	return a.inner.RoundTrip(req)
}

func (a *authRecorder) header(u *url.URL) string {
	if u.Host != a.host {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.value
}

// has asks whether the repository has a blob already.
func (r *registry) has(ctx context.Context, d v1.Hash) (bool, error) {
	u := r.base + "/v2/" + r.repo.RepositoryStr() + "/blobs/" + d.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("HEAD %s: %w", u, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("HEAD %s: %s", u, resp.Status)
}

// upload puts a layer in the registry, retrying the whole upload on server
// errors and broken connections (after 1 s, then 3 s). With stream, the
// layer is hashed while it is sent and its digest given at the commit;
// otherwise its digest is known and the registry checks the body against
// it.
func (r *registry) upload(ctx context.Context, l *tarLayer, stream, fileSums bool) error {
	var err error
	for attempt, wait := 0, time.Duration(0); attempt < 3; attempt, wait = attempt+1, max(time.Second, wait*3) {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		var retry bool
		if retry, err = r.uploadOnce(ctx, l, stream, fileSums); err == nil || !retry {
			return err
		}
	}
	return err
}

func (r *registry) uploadOnce(ctx context.Context, l *tarLayer, stream, fileSums bool) (retry bool, err error) {
	loc, retry, err := r.do(ctx, http.MethodPost, r.base+"/v2/"+r.repo.RepositoryStr()+"/blobs/uploads/", http.StatusAccepted)
	if err != nil {
		return retry, err
	}
	if !stream {
		commit, err := withQuery(loc, "digest", l.digest.String())
		if err != nil {
			return false, err
		}
		_, retry, err = r.send(ctx, http.MethodPut, commit, l, nil, http.StatusCreated)
		return retry, err
	}
	d := newDigester(l, fileSums)
	if loc, retry, err = r.send(ctx, http.MethodPatch, loc, l, d, http.StatusAccepted, http.StatusNoContent); err != nil {
		return retry, err
	}
	d.finish(l)
	commit, err := withQuery(loc, "digest", l.digest.String())
	if err != nil {
		return false, err
	}
	_, retry, err = r.do(ctx, http.MethodPut, commit, http.StatusCreated)
	return retry, err
}

// send sends the layer as the body of one request: directly when the
// connection allows it, else through the HTTP client.
func (r *registry) send(ctx context.Context, method, u string, l *tarLayer, d *digester, ok ...int) (location string, retry bool, err error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return "", false, fmt.Errorf("upload location %s: %w", redact(u), err)
	}
	if dial, ok2 := r.direct(parsed); ok2 {
		return r.sendDirect(ctx, dial, method, parsed, l, d, ok...)
	}
	body := l.reader(d)
	defer body.Close()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return "", false, err
	}
	req.ContentLength = l.size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := r.client.Do(req)
	var fe *fileError
	if errors.As(err, &fe) {
		return "", false, fe
	}
	if err != nil {
		return "", ctx.Err() == nil, fmt.Errorf("%s %s: %w", method, redact(u), err)
	}
	defer resp.Body.Close()
	return answer(method, req.URL, resp, ok...)
}

// do sends one request without a body and returns the absolute Location
// of the answer.
func (r *registry) do(ctx context.Context, method, u string, ok ...int) (location string, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return "", false, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return "", ctx.Err() == nil, fmt.Errorf("%s %s: %w", method, redact(u), err)
	}
	defer resp.Body.Close()
	return answer(method, req.URL, resp, ok...)
}

// answer reads a registry's answer: the Location when the status is one
// of ok, else an error quoting at most 1 KiB of the body.
func answer(method string, u *url.URL, resp *http.Response, ok ...int) (location string, retry bool, err error) {
	for _, code := range ok {
		if resp.StatusCode == code {
			loc, err := u.Parse(resp.Header.Get("Location"))
			if err != nil {
				return "", false, fmt.Errorf("%s %s: bad Location: %w", method, redact(u.String()), err)
			}
			return loc.String(), false, nil
		}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return "", retry, &answerError{status: resp.StatusCode, msg: fmt.Sprintf("%s %s: %s: %s", method, redact(u.String()), resp.Status, strings.TrimSpace(string(msg)))}
}

// answerError is a registry's refusal.
type answerError struct {
	status int
	msg    string
}

func (e *answerError) Error() string { return e.msg }

// digestRefused says whether the registry refused a body for not matching
// the digest it was given (a stale digest cache entry): DIGEST_INVALID in
// the distribution spec, BLOB_UPLOAD_INVALID from some registries.
func digestRefused(err error) bool {
	var ae *answerError
	return errors.As(err, &ae) && ae.status == http.StatusBadRequest &&
		(strings.Contains(ae.msg, "DIGEST_INVALID") || strings.Contains(ae.msg, "BLOB_UPLOAD_INVALID"))
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
