package attest

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
)

// staticKeychain hands every registry one username and password.
type staticKeychain struct{ user, password string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.password}), nil
}

// A registry is a peer, and the Location it answers an upload with is
// its word: one that sends the upload to another host gets the blob
// (public: a signature, an attestation), never the credentials the write
// holds for the registry itself.
func TestUploadElsewhereGetsNoCredentials(t *testing.T) {
	const password = "s3cret-registry-password"
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var mu sync.Mutex
	authAt := map[string][]string{}
	record := func(who string, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		authAt[who] = append(authAt[who], r.Header.Get("Authorization"))
	}
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("elsewhere", r)
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(elsewhere.Close)
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("registry", r)
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
			reg.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, r)
		loc, err := url.Parse(rec.Header().Get("Location"))
		if err != nil {
			t.Errorf("the registry's Location: %v", err)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Location", elsewhere.URL+loc.RequestURI())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(hostile.Close)

	img := pushImage(t, strings.TrimPrefix(hostile.URL, "http://"), "models/elsewhere").String()
	mu.Lock()
	authAt = map[string][]string{}
	mu.Unlock()
	s := generate(t).signer(t)
	o := WriteOptions{Keychain: staticKeychain{"robot", password}}
	if _, err := s.Attest(context.Background(), img, PredicateVuln, map[string]string{"run": "1"}, o); err != nil {
		t.Fatal(err)
	}
	if n := countAtts(t, img); n != 1 {
		t.Errorf("%d attestations, want the one written through the other host", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(authAt["elsewhere"]) == 0 {
		t.Fatal("no upload went to the other host: nothing was tried")
	}
	for _, a := range authAt["elsewhere"] {
		if a != "" {
			t.Errorf("the other host got Authorization %q", a)
		}
	}
	sent := false
	for _, a := range authAt["registry"] {
		sent = sent || strings.HasPrefix(a, "Basic ")
	}
	if !sent {
		t.Errorf("the registry itself never got the credentials (%q): the test proves nothing", authAt["registry"])
	}
}
