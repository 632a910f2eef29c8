package attest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
)

// CycloneDXMediaType is the media type an ML-BOM is attached with.
const CycloneDXMediaType = "application/vnd.cyclonedx+json"

// MaxSBOMBytes bounds an attached SBOM read back from a registry.
const MaxSBOMBytes = 16 << 20

// AttachSBOM attaches an unsigned SBOM to the image's .sbom tag, as
// `cosign attach sbom` does, and returns its digest (sha256:<hex>): the
// build reports that digest in its TaskRun results, so whoever attests the
// SBOM later can tell it is the one the build wrote.
func AttachSBOM(ctx context.Context, ref string, sbom []byte, o WriteOptions) (string, error) {
	d, err := digestRef(ref, o.Insecure)
	if err != nil {
		return "", err
	}
	f, err := static.NewFile(sbom, static.WithLayerMediaType(types.MediaType(CycloneDXMediaType)))
	if err != nil {
		return "", err
	}
	tag, err := ociremote.SBOMTag(d, o.remote(ctx)...)
	if err != nil {
		return "", err
	}
	if err := remote.Write(tag, f, o.registry(ctx)...); err != nil {
		return "", fmt.Errorf("attach the SBOM of %s: %w", d, err)
	}
	sum := sha256.Sum256(sbom)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// AttestSBOM reads the SBOM attached to the image, checks that its digest
// is want and that it is a CycloneDX BOM of this very image, and attests
// it as a cyclonedx statement with the signer's key.
func (s *Signer) AttestSBOM(ctx context.Context, ref, want string, o WriteOptions) error {
	d, err := digestRef(ref, o.Insecure)
	if err != nil {
		return err
	}
	tag, err := ociremote.SBOMTag(d, o.remote(ctx)...)
	if err != nil {
		return err
	}
	img, err := remote.Image(tag, o.registry(ctx)...)
	if err != nil {
		return fmt.Errorf("read %s: %w", tag, err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		return fmt.Errorf("%s: want one SBOM layer (%v)", tag, err)
	}
	if size, err := layers[0].Size(); err != nil || size > MaxSBOMBytes {
		return fmt.Errorf("%s: the SBOM is over %d bytes or unreadable (%v)", tag, MaxSBOMBytes, err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	bom, err := io.ReadAll(io.LimitReader(rc, MaxSBOMBytes+1))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(bom)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("%s holds an SBOM of digest %s, not the %s the build reported", tag, got, want)
	}
	var doc struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Version string `json:"version"`
			} `json:"component"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(bom, &doc); err != nil || doc.BOMFormat != "CycloneDX" {
		return fmt.Errorf("%s is not a CycloneDX JSON BOM", tag)
	}
	if doc.Metadata.Component.Version != d.DigestStr() {
		return fmt.Errorf("%s describes %q, not %s", tag, cut(doc.Metadata.Component.Version, 80), d.DigestStr())
	}
	_, err = s.Attest(ctx, d.String(), PredicateCycloneDX, json.RawMessage(bom), o)
	return err
}
