package attest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/pkg/registry"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
)

// VerifyOptions say what to trust and how to reach the registry.
type VerifyOptions struct {
	// PublicKey is the signer's public key, PEM (cosign.pub).
	PublicKey []byte
	// Remote are go-containerregistry options: auth, transport.
	Remote []remote.Option
	// Insecure allows a plain-HTTP registry (a local one in tests).
	Insecure bool
}

// Attestation is one verified in-toto statement about the image.
type Attestation struct {
	PredicateType string
	// BuilderID is the provenance's builder (SLSA v0.2 predicate.builder.id
	// or v1 predicate.runDetails.builder.id); empty for other predicates.
	BuilderID string
	// Subjects are the statement's subject digests, "sha256:<hex>".
	Subjects []string
	// Predicate is the raw predicate, for callers that look further.
	Predicate json.RawMessage
}

// Errors a caller may switch on.
var (
	ErrNotSigned   = errors.New("no signature found")
	ErrNotAttested = errors.New("no attestation found")
	ErrWrongKey    = errors.New("no signature verifies with the key")
	// ErrTooLarge: the registry's answer (a manifest, a payload, all of
	// them together) was past the bounds of a check, and refused unread.
	ErrTooLarge = registry.ErrTooLarge
)

// Signatures verifies the image's signatures (the .sig tag) and returns
// how many verified. The reference should carry a digest: a tag is
// resolved once, and the signature is checked against that digest.
func Signatures(ctx context.Context, ref string, o VerifyOptions) (int, error) {
	r, co, tr, err := o.checkOpts(ref)
	if err != nil {
		return 0, err
	}
	co.ClaimVerifier = cosign.SimpleClaimVerifier
	sigs, _, err := cosign.VerifyImageSignatures(ctx, r, co)
	if err != nil {
		return 0, explain(ref, "signature", err, tr)
	}
	return len(sigs), nil
}

// Attestations verifies the image's attestations (the .att tag): each
// DSSE envelope must verify with the key and name the image's digest as a
// subject. It returns the statements that did.
func Attestations(ctx context.Context, ref string, o VerifyOptions) ([]Attestation, error) {
	r, co, tr, err := o.checkOpts(ref)
	if err != nil {
		return nil, err
	}
	co.ClaimVerifier = cosign.IntotoSubjectClaimVerifier
	atts, _, err := cosign.VerifyImageAttestations(ctx, r, co)
	if err != nil {
		// cosign says "no matching attestations" whether there are none or
		// none verifies; look, so the caller learns which.
		if n, cerr := countAttestations(r, co); cerr == nil && n == 0 {
			return nil, fmt.Errorf("%s: %w", ref, ErrNotAttested)
		}
		return nil, explain(ref, "attestation", err, tr)
	}
	out := make([]Attestation, 0, len(atts))
	for _, a := range atts {
		st, err := statement(a)
		if err != nil {
			return nil, fmt.Errorf("attestation of %s: %w", ref, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func countAttestations(r name.Reference, co *cosign.CheckOpts) (int, error) {
	se, err := ociremote.SignedEntity(r, co.RegistryClientOpts...)
	if err != nil {
		return 0, err
	}
	atts, err := se.Attestations()
	if err != nil {
		return 0, err
	}
	list, err := atts.Get()
	return len(list), err
}

func (o VerifyOptions) checkOpts(ref string) (name.Reference, *cosign.CheckOpts, *registry.Bounded, error) {
	var nameOpts []name.Option
	if o.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("image %q: %w", ref, err)
	}
	if len(o.PublicKey) == 0 {
		return nil, nil, nil, errors.New("no public key to verify with")
	}
	v, err := loadVerifier(o.PublicKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("public key: %w", err)
	}
	tr := registry.Transport(nil, listBounds)
	return r, &cosign.CheckOpts{
		SigVerifier: v,
		// More, not instead of, cosign's defaults: they carry the docker
		// config keychain, which a Task step's credentials come through.
		// Signatures and attestations are read whole: each answer, and all
		// of them together, are capped (cosign's own cap is 1000 layers of
		// 128 MiB). A fresh transport per check, so the total is per check.
		RegistryClientOpts: []ociremote.Option{ociremote.WithMoreRemoteOptions(append([]remote.Option{remote.WithTransport(tr)}, o.Remote...)...)},
		// Key-based and offline: there is no transparency log or
		// certificate to check, and nothing to fetch from the internet.
		IgnoreTlog: true,
		IgnoreSCT:  true,
		Offline:    true,
	}, tr, nil
}

// listBounds cap what a check or a write reads of the signature and
// attestation lists: a DSSE envelope with SLSA provenance is tens of KiB; a
// hundred of them fit.
var listBounds = registry.Bounds{MaxManifestBytes: registry.MaxManifestBytes, MaxBlobBytes: 4 << 20, MaxTotalBytes: 64 << 20}

// explain maps cosign's errors to ours, keeping cosign's text.
func explain(ref, what string, err error, tr *registry.Bounded) error {
	if rerr := tr.Refused(); rerr != nil {
		// cosign folds the read error into "no matching signatures".
		return fmt.Errorf("verify %s of %s: %w", what, ref, rerr)
	}
	var noSigs *cosign.ErrNoSignaturesFound
	var noMatchSig *cosign.ErrNoMatchingSignatures
	var noAtts *cosign.ErrNoMatchingAttestations
	switch {
	case errors.As(err, &noSigs):
		sentinel := ErrNotSigned
		if what == "attestation" {
			sentinel = ErrNotAttested
		}
		return fmt.Errorf("%s: %w (%v)", ref, sentinel, err)
	case errors.As(err, &noMatchSig), errors.As(err, &noAtts):
		return fmt.Errorf("%s: %w (%v)", ref, ErrWrongKey, err)
	}
	return fmt.Errorf("verify %s of %s: %w", what, ref, err)
}

// statement decodes a verified DSSE envelope's in-toto statement.
func statement(sig oci.Signature) (Attestation, error) {
	raw, err := sig.Payload()
	if err != nil {
		return Attestation{}, err
	}
	body, err := envelopePayload(raw)
	if err != nil {
		return Attestation{}, err
	}
	var st struct {
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return Attestation{}, fmt.Errorf("in-toto statement: %w", err)
	}
	a := Attestation{PredicateType: st.PredicateType, Predicate: st.Predicate}
	for _, s := range st.Subject {
		if d, ok := s.Digest["sha256"]; ok {
			a.Subjects = append(a.Subjects, "sha256:"+d)
		}
	}
	a.BuilderID = builderOf(body)
	return a, nil
}
