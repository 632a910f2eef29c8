// Package attest is modelguard's sigstore side, on cosign's public
// packages: it signs images and attaches in-toto attestations in the
// .sig/.att tag scheme that Tekton Chains, sigstore policy-controller,
// Kyverno and OpenShift read; it verifies them, offline, with a key; it
// writes the provenance of a whole PipelineRun (CustomRuns included, which
// Chains skips) on Chains' own formatter; it judges an image against a
// trust policy (VerifyImage); and it renders that policy for admission
// controllers.
//
// Nothing here talks to a transparency log or a TUF root unless asked
// (WriteOptions.TransparencyLog): keys are private, clusters air-gapped.
package attest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
)

// Predicate types modelguard writes and reads.
const (
	// PredicateVuln is cosign's vulnerability-scan predicate.
	PredicateVuln = "https://cosign.sigstore.dev/attestation/vuln/v1"
	// PredicateSLSA1 is SLSA v1.0 provenance (Chains' and the pipeline's).
	PredicateSLSA1 = "https://slsa.dev/provenance/v1"
	// PredicateCycloneDX is an in-toto CycloneDX SBOM (the ML-BOM).
	PredicateCycloneDX = "https://cyclonedx.org/bom"
	// PredicateImageCheck and PredicateDeploymentCheck are an ACS policy
	// gate's verdict (modelguard's own statements).
	PredicateImageCheck      = "https://modelguard.dev/attestation/image-check/v1"
	PredicateDeploymentCheck = "https://modelguard.dev/attestation/deployment-check/v1"
)

// StatementType is the in-toto statement version written.
const StatementType = "https://in-toto.io/Statement/v1"

// Statement is an in-toto statement.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is one artifact a statement is about.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Attest signs an in-toto statement of predicateType about the image
// (its digest) and attaches it to the image's .att tag, as `cosign attest
// --key --replace` does: an older statement of the same predicate type
// signed by the same key (and, for provenance, by the same builder)
// is replaced, so re-runs do not pile up; statements by other keys stay.
// predicate is JSON-encoded unless it is already json.RawMessage.
func (s *Signer) Attest(ctx context.Context, ref, predicateType string, predicate any, o WriteOptions) (string, error) {
	d, err := digestRef(ref, o.Insecure)
	if err != nil {
		return "", err
	}
	raw, ok := predicate.(json.RawMessage)
	if !ok {
		if raw, err = json.Marshal(predicate); err != nil {
			return "", fmt.Errorf("%s predicate: %w", predicateType, err)
		}
	}
	hex := strings.TrimPrefix(d.DigestStr(), "sha256:")
	stmt, err := json.Marshal(Statement{Type: StatementType, PredicateType: predicateType, Predicate: raw,
		Subject: []Subject{{Name: d.Context().Name(), Digest: map[string]string{"sha256": hex}}}})
	if err != nil {
		return "", err
	}
	return d.String(), s.attach(ctx, d, predicateType, stmt, o)
}

// AttestStatement signs an in-toto statement built elsewhere (the
// pipeline provenance) and attaches it to each image of refs, each by
// digest and each one of the statement's subjects, with the same
// replacement rule as Attest.
func (s *Signer) AttestStatement(ctx context.Context, stmt []byte, refs []string, o WriteOptions) error {
	var st Statement
	if err := json.Unmarshal(stmt, &st); err != nil || st.PredicateType == "" {
		return fmt.Errorf("not an in-toto statement: %v", err)
	}
	for _, ref := range refs {
		d, err := digestRef(ref, o.Insecure)
		if err != nil {
			return err
		}
		if !st.names(d.DigestStr()) {
			return fmt.Errorf("%s is not a subject of the %s statement", d, st.PredicateType)
		}
		if err := s.attach(ctx, d, st.PredicateType, stmt, o); err != nil {
			return err
		}
	}
	return nil
}

// names reports whether digest ("sha256:<hex>") is one of the subjects.
func (st Statement) names(digest string) bool {
	alg, hex, _ := strings.Cut(digest, ":")
	for _, s := range st.Subject {
		if s.Digest[alg] == hex {
			return true
		}
	}
	return false
}

func (s *Signer) attach(ctx context.Context, d name.Digest, predicateType string, stmt []byte, o WriteOptions) error {
	env, err := dsse.WrapSigner(s.sv, types.IntotoPayloadType).SignMessage(bytes.NewReader(stmt))
	if err != nil {
		return fmt.Errorf("sign the %s statement with %s: %w", predicateType, s.ref, err)
	}
	opts, err := s.tlogBundle(ctx, o, s.uploadEnvelope(ctx, env))
	if err != nil {
		return err
	}
	opts = append(opts, static.WithLayerMediaType(types.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": predicateType}))
	att, err := static.NewAttestation(env, opts...)
	if err != nil {
		return err
	}
	want, err := att.Digest()
	if err != nil {
		return err
	}
	replace := &replaceOwn{predicateType: predicateType, builder: builderOf(stmt), verifier: s.sv}
	return readModifyWrite(ctx, d, attTag, o,
		func(se oci.SignedEntity) (oci.SignedEntity, error) {
			return mutate.AttachAttestationToEntity(se, att, mutate.WithReplaceOp(replace))
		},
		func(se oci.SignedEntity) (bool, error) {
			atts, err := se.Attestations()
			if err != nil {
				return false, err
			}
			list, err := atts.Get()
			if err != nil {
				return false, err
			}
			for _, a := range list {
				if got, err := a.Digest(); err == nil && got == want {
					return true, nil
				}
			}
			return false, nil
		})
}

// replaceOwn is cosign's --replace, narrowed: it drops only statements of
// the same predicate type and builder that verify with our own key, so
// another signer's attestations (Chains' provenance, someone's scan) are
// never deleted by ours, and a stray layer that does not parse is kept.
type replaceOwn struct {
	predicateType, builder string
	verifier               signature.Verifier
}

func (r *replaceOwn) Replace(current oci.Signatures, att oci.Signature) (oci.Signatures, error) {
	list, err := current.Get()
	if err != nil {
		return nil, err
	}
	keep := []oci.Signature{att}
	for _, a := range list {
		if !r.ours(a) {
			keep = append(keep, a)
		}
	}
	return &replacedSignatures{Signatures: current, list: keep}, nil
}

func (r *replaceOwn) ours(a oci.Signature) bool {
	env, err := a.Payload()
	if err != nil {
		return false
	}
	stmt, err := envelopePayload(env)
	if err != nil {
		return false
	}
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if json.Unmarshal(stmt, &st) != nil || st.PredicateType != r.predicateType || builderOf(stmt) != r.builder {
		return false
	}
	return dsse.WrapVerifier(r.verifier).VerifySignature(bytes.NewReader(env), nil) == nil
}

type replacedSignatures struct {
	oci.Signatures
	list []oci.Signature
}

func (r *replacedSignatures) Get() ([]oci.Signature, error) { return r.list, nil }

// envelopePayload returns the statement inside a DSSE envelope.
func envelopePayload(env []byte) ([]byte, error) {
	var e struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(env, &e); err != nil {
		return nil, fmt.Errorf("DSSE envelope: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("DSSE payload: %w", err)
	}
	return b, nil
}

// builderOf returns a provenance statement's builder id (SLSA v0.2
// predicate.builder.id or v1 predicate.runDetails.builder.id), or "".
func builderOf(stmt []byte) string {
	var st struct {
		Predicate struct {
			Builder struct {
				ID string `json:"id"`
			} `json:"builder"`
			RunDetails struct {
				Builder struct {
					ID string `json:"id"`
				} `json:"builder"`
			} `json:"runDetails"`
		} `json:"predicate"`
	}
	if json.Unmarshal(stmt, &st) != nil {
		return ""
	}
	if st.Predicate.Builder.ID != "" {
		return st.Predicate.Builder.ID
	}
	return st.Predicate.RunDetails.Builder.ID
}
