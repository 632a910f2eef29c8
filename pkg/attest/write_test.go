package attest

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
)

// Another writer that tags .att between our read and our write — Chains
// storing its provenance while a gate attests its scan, the pipeline's
// usual moment — keeps its entry: we see the tag move and write again on
// top of it. (Written over, Chains' provenance was lost and VerifyImage
// failed NoProvenance with nothing wrong.)
func TestForeignWriteBetweenReadAndWrite(t *testing.T) {
	ctx := context.Background()
	var (
		mu             sync.Mutex
		enabled, fired bool
		img            name.Digest
		srv            *httptest.Server
	)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fire := enabled && !fired && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
		fired = fired || fire
		mu.Unlock()
		if fire {
			// The first manifest our write sends: before it lands, the
			// other writer does what cosign (and Chains) do, in full.
			func() {
				se, err := ociremote.SignedEntity(img)
				if err == nil {
					var att oci.Signature
					att, err = static.NewAttestation([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`),
						static.WithLayerMediaType(types.DssePayloadType))
					if err == nil {
						se, err = mutate.AttachAttestationToEntity(se, att)
					}
				}
				if err == nil {
					err = ociremote.WriteAttestations(img.Repository, se)
				}
				if err != nil {
					t.Errorf("the other writer: %v", err)
				}
			}()
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img = pushImage(t, host, "models/raced")
	mu.Lock()
	enabled = true
	mu.Unlock()

	if _, err := generate(t).signer(t).Attest(ctx, img.String(), PredicateVuln, map[string]string{"verdict": "pass"}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := countAtts(t, img.String()); n != 2 {
		t.Errorf("%d attestations; want the other writer's and ours", n)
	}
}

// Another writer that read the tag before our write and tags after it
// drops our entry; the read-back sees the tag no longer names our list
// and we write again, on top of theirs, so both stay.
func TestForeignWriteOverOurs(t *testing.T) {
	ctx := context.Background()
	var (
		mu             sync.Mutex
		enabled, fired bool
		stale          oci.SignedEntity
		img            name.Digest
	)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fire := enabled && !fired && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, ".att")
		fired = fired || fire
		mu.Unlock()
		reg.ServeHTTP(w, r)
		if fire {
			// Our tag write has landed; the other writer, which read the
			// tag before it, now tags its list without ours.
			if err := ociremote.WriteAttestations(img.Repository, stale); err != nil {
				t.Errorf("the other writer: %v", err)
			}
		}
	}))
	t.Cleanup(srv.Close)
	img = pushImage(t, strings.TrimPrefix(srv.URL, "http://"), "models/overwritten")
	se, err := ociremote.SignedEntity(img)
	if err != nil {
		t.Fatal(err)
	}
	att, err := static.NewAttestation([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`),
		static.WithLayerMediaType(types.DssePayloadType))
	if err != nil {
		t.Fatal(err)
	}
	before, err := se.Attestations()
	if err != nil {
		t.Fatal(err)
	}
	// cosign reads an entity's list lazily; freeze it as read now.
	if stale, err = mutate.AttachAttestationToEntity(frozen{se.(oci.SignedImage), before}, att); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	enabled = true
	mu.Unlock()

	if _, err := generate(t).signer(t).Attest(ctx, img.String(), PredicateVuln, map[string]string{"verdict": "pass"}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if !fired {
		t.Fatal("the other writer never ran: nothing was raced")
	}
	if n := countAtts(t, img.String()); n != 2 {
		t.Errorf("%d attestations; want the other writer's and ours", n)
	}
}

// frozen is an image entity whose attestation list is the one read once.
type frozen struct {
	oci.SignedImage
	atts oci.Signatures
}

func (f frozen) Attestations() (oci.Signatures, error) { return f.atts, nil }
