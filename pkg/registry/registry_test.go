package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// rawManifest is whatever bytes a hostile registry user pushes as a
// manifest.
type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// hugeManifest is a syntactically valid image manifest of about n bytes:
// a layer list no image has.
func hugeManifest(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"mediaType":"application/vnd.oci.image.layer.v1.tar","size":1,"digest":"sha256:%064x"}`, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// A manifest past MaxManifestBytes is refused while it is read, with an
// error naming the limit; one within it is read as usual.
func TestManifestCapped(t *testing.T) {
	host := startRegistry(t)
	big, err := name.ParseReference(host + "/m/huge:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(big, rawManifest{hugeManifest(6 << 20), types.OCIManifestSchema1}); err != nil {
		t.Fatal(err)
	}
	_, err = remote.Image(big, Option(Bounds{MaxManifestBytes: MaxManifestBytes}))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "MaxManifestBytes") {
		t.Fatalf("huge manifest: %v", err)
	}
	small, _ := name.ParseReference(host + "/m/small:v1")
	if err := remote.Put(small, rawManifest{hugeManifest(1 << 10), types.OCIManifestSchema1}); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Image(small, Option(Bounds{MaxManifestBytes: MaxManifestBytes})); err != nil {
		t.Fatalf("small manifest: %v", err)
	}
}

// Blobs are capped one by one and all reads of one operation together.
func TestBlobAndTotalCapped(t *testing.T) {
	host := startRegistry(t)
	repo, _ := name.NewRepository(host + "/m/blobs")
	var layers []v1.Layer
	for i := range 3 {
		l := static.NewLayer(bytes.Repeat([]byte{byte('a' + i)}, 3<<20), types.OCILayer)
		if err := remote.WriteLayer(repo, l); err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	read := func(l v1.Layer, opt remote.Option) error {
		d, _ := l.Digest()
		rl, err := remote.Layer(repo.Digest(d.String()), opt)
		if err != nil {
			return err
		}
		rc, err := rl.Compressed()
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(io.Discard, rc)
		return err
	}
	if err := read(layers[0], Option(Bounds{MaxBlobBytes: 1 << 20})); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "MaxBlobBytes") {
		t.Errorf("blob past MaxBlobBytes: %v", err)
	}
	if err := read(layers[0], Option(Bounds{MaxBlobBytes: 3 << 20})); err != nil {
		t.Errorf("blob at MaxBlobBytes: %v", err)
	}
	total := Option(Bounds{MaxTotalBytes: 7 << 20})
	var errs []error
	for _, l := range layers {
		errs = append(errs, read(l, total))
	}
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], ErrTooLarge) || !strings.Contains(errs[2].Error(), "MaxTotalBytes") {
		t.Errorf("three 3 MiB blobs under a 7 MiB total: %v", errs)
	}
}
