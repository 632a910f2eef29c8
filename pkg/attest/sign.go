package attest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"

	cremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"
)

// Sign attaches a cosign simple-signing signature of the image digest to
// the image's .sig tag, as `cosign sign --key` does, and returns the
// digest reference it signed. Signing an image this key already signed
// adds nothing (cosign's duplicate detection), so a retried run is safe.
func (s *Signer) Sign(ctx context.Context, ref string, o WriteOptions) (string, error) {
	d, err := digestRef(ref, o.Insecure)
	if err != nil {
		return "", err
	}
	payload, err := sigpayload.Cosign{Image: d}.MarshalJSON()
	if err != nil {
		return "", fmt.Errorf("signature payload: %w", err)
	}
	raw, err := s.sv.SignMessage(bytes.NewReader(payload))
	if err != nil {
		return "", fmt.Errorf("sign %s with %s: %w", d, s.ref, err)
	}
	opts, err := s.tlogBundle(ctx, o, s.uploadSignature(ctx, payload, raw))
	if err != nil {
		return "", err
	}
	sig, err := static.NewSignature(payload, base64.StdEncoding.EncodeToString(raw), opts...)
	if err != nil {
		return "", err
	}
	dupes := cremote.NewDupeDetector(s.sv)
	err = readModifyWrite(ctx, d, sigTag, o,
		func(se oci.SignedEntity) (oci.SignedEntity, error) {
			return mutate.AttachSignatureToEntity(se, sig, mutate.WithDupeDetector(dupes))
		},
		func(se oci.SignedEntity) (bool, error) {
			sigs, err := se.Signatures()
			if err != nil {
				return false, err
			}
			found, err := dupes.Find(sigs, sig)
			return found != nil, err
		})
	if err != nil {
		return "", err
	}
	return d.String(), nil
}
