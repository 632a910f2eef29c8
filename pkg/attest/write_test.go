package attest

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	mgregistry "github.com/modelguard/modelguard/pkg/registry"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
)

// racedRegistry is an in-memory registry that, once armed, runs other
// exactly once around the first request match picks out: before that
// request reaches the registry, or, with after, once it has landed.
type racedRegistry struct {
	host  string
	mu    sync.Mutex
	armed bool
	fired bool
}

func newRacedRegistry(t *testing.T, match func(*http.Request) bool, after bool, other func() error) *racedRegistry {
	rr := &racedRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rr.mu.Lock()
		fire := rr.armed && !rr.fired && match(r)
		rr.fired = rr.fired || fire
		rr.mu.Unlock()
		if fire && !after {
			rr.other(t, other)
		}
		reg.ServeHTTP(w, r)
		if fire && after {
			rr.other(t, other)
		}
	}))
	t.Cleanup(srv.Close)
	rr.host = strings.TrimPrefix(srv.URL, "http://")
	return rr
}

func (rr *racedRegistry) other(t *testing.T, other func() error) {
	if err := other(); err != nil {
		t.Errorf("the other writer: %v", err)
	}
}

func (rr *racedRegistry) arm() {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.armed = true
}

func (rr *racedRegistry) ran() bool {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.fired
}

// foreignAttestation is another signer's attestation (an empty statement).
func foreignAttestation(t *testing.T) oci.Signature {
	t.Helper()
	att, err := static.NewAttestation([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`),
		static.WithLayerMediaType(types.DssePayloadType))
	if err != nil {
		t.Fatal(err)
	}
	return att
}

// attestRaced attests img as a gate does, with rr armed, and wants the
// other writer to have run and both attestations to be on the image.
func attestRaced(t *testing.T, rr *racedRegistry, img name.Digest) {
	t.Helper()
	rr.arm()
	if _, err := generate(t).signer(t).Attest(context.Background(), img.String(), PredicateVuln, map[string]string{"verdict": "pass"}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if !rr.ran() {
		t.Fatal("the other writer never ran: nothing was raced")
	}
	if n := countAtts(t, img.String()); n != 2 {
		t.Errorf("%d attestations; want the other writer's and ours", n)
	}
}

// Another writer that tags .att between our read and our write — Chains
// storing its provenance while a gate attests its scan, the pipeline's
// usual moment — keeps its entry: we see the tag move and write again on
// top of it. (Written over, Chains' provenance was lost and VerifyImage
// failed NoProvenance with nothing wrong.)
func TestForeignWriteBetweenReadAndWrite(t *testing.T) {
	var img name.Digest
	firstManifest := func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
	}
	// Before the first manifest our write sends lands, the other writer
	// does what cosign (and Chains) do, in full.
	rr := newRacedRegistry(t, firstManifest, false, func() error {
		se, err := ociremote.SignedEntity(img)
		if err != nil {
			return err
		}
		if se, err = mutate.AttachAttestationToEntity(se, foreignAttestation(t)); err != nil {
			return err
		}
		return ociremote.WriteAttestations(img.Repository, se)
	})
	img = pushImage(t, rr.host, "models/raced")
	attestRaced(t, rr, img)
}

// Another writer that read the tag before our write and tags after it
// drops our entry; the read-back sees the tag no longer names our list
// and we write again, on top of theirs, so both stay.
func TestForeignWriteOverOurs(t *testing.T) {
	var (
		img   name.Digest
		stale oci.SignedEntity
	)
	ourTag := func(r *http.Request) bool { return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, ".att") }
	// Once our tag write has landed, the other writer, which read the tag
	// before it, tags its list without ours.
	rr := newRacedRegistry(t, ourTag, true, func() error { return ociremote.WriteAttestations(img.Repository, stale) })
	img = pushImage(t, rr.host, "models/overwritten")
	se, err := ociremote.SignedEntity(img)
	if err != nil {
		t.Fatal(err)
	}
	// cosign reads an entity's list lazily; freeze it as read now.
	se = readOnce(se)
	if _, err := se.Attestations(); err != nil {
		t.Fatal(err)
	}
	if stale, err = mutate.AttachAttestationToEntity(se, foreignAttestation(t)); err != nil {
		t.Fatal(err)
	}
	attestRaced(t, rr, img)
}

// countingRegistry is an in-memory registry that counts the requests it
// serves by method and kind of path (pings, blobs, manifests, uploads).
type countingRegistry struct {
	host string
	mu   sync.Mutex
	n    map[string]int
}

func newCountingRegistry(t *testing.T) *countingRegistry {
	cr := &countingRegistry{n: map[string]int{}}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "other"
		switch p := r.URL.Path; {
		case p == "/v2/":
			kind = "ping"
		case strings.Contains(p, "/blobs/uploads/"):
			kind = "upload"
		case strings.Contains(p, "/blobs/"):
			kind = "blob"
		case strings.Contains(p, "/manifests/"):
			kind = "manifest"
		}
		cr.mu.Lock()
		cr.n[r.Method+" "+kind]++
		cr.mu.Unlock()
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cr.host = strings.TrimPrefix(srv.URL, "http://")
	return cr
}

// take returns the counts so far and starts again.
func (cr *countingRegistry) take() map[string]int {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	n := cr.n
	cr.n = map[string]int{}
	return n
}

// Every request of a write is on its critical path, and the settle wait
// after it is twice the write's own time. So a write sets up the
// registry transport (a /v2/ ping, and a token where the registry wants
// one) once to read and once to push, not once per call; uploads each
// new blob in one POST and one PUT; and does not upload again the layers
// of the list it read.
func TestWriteRequests(t *testing.T) {
	ctx := context.Background()
	cr := newCountingRegistry(t)
	k := generate(t)
	s := k.signer(t)
	img := pushImage(t, cr.host, "models/granite").String()
	cr.take()
	writes := []struct {
		name  string
		write func() error
	}{
		{"sign", func() error { _, err := s.Sign(ctx, img, WriteOptions{}); return err }},
		{"attest", func() error {
			_, err := s.Attest(ctx, img, PredicateVuln, map[string]string{"run": "1"}, WriteOptions{})
			return err
		}},
		{"attest beside one", func() error {
			_, err := s.Attest(ctx, img, PredicateImageCheck, map[string]string{"verdict": "pass"}, WriteOptions{})
			return err
		}},
	}
	for _, w := range writes {
		if err := w.write(); err != nil {
			t.Fatal(err)
		}
		n := cr.take()
		// The config and the one new entry.
		if n["GET ping"] != 2 || n["POST upload"] != 2 || n["PUT upload"] != 2 || n["PATCH upload"] != 0 || n["HEAD blob"] != 0 {
			t.Errorf("%s: want 2 pings, 2 uploads of one POST and one PUT each, no blob HEADs; got %v", w.name, n)
		}
	}
	if n := countAtts(t, img); n != 2 {
		t.Errorf("%d attestations, want 2", n)
	}
}

// A registry is a peer: one that answers the read of the .att list with
// an endless body makes the write fail, naming the bound, after reading
// no more than the bound allows.
func TestWriteBoundsTheRegistrysAnswers(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, ".att") {
			reg.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		chunk := []byte(strings.Repeat(" ", 64<<10))
		for sent.Load() < 256<<20 {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	img := pushImage(t, strings.TrimPrefix(srv.URL, "http://"), "models/hostile").String()
	s := generate(t).signer(t)
	_, err := s.Attest(context.Background(), img, PredicateVuln, map[string]string{"run": "1"}, WriteOptions{})
	if !errors.Is(err, mgregistry.ErrTooLarge) {
		t.Fatalf("attest against an endless .att answer: %v; want ErrTooLarge", err)
	}
	if n := sent.Load(); n > 64<<20 {
		t.Errorf("the registry got to send %d MiB before the write stopped reading", n>>20)
	}
}
