package attest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"
)

// keyPair makes a cosign key pair as `cosign generate-key-pair` does.
func keyPair(t *testing.T) (signature.SignerVerifier, []byte) {
	t.Helper()
	pass := []byte("test-only")
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return pass, nil })
	if err != nil {
		t.Fatal(err)
	}
	sv, err := cosign.LoadPrivateKey(keys.PrivateBytes, pass, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sv, keys.PublicBytes
}

// pushImage pushes a random image and returns its digest reference.
func pushImage(t *testing.T, host, repo string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host + "/" + repo + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return tag.Context().Digest(d.String())
}

// sign attaches a simple-signing signature, as cosign sign does.
func sign(t *testing.T, sv signature.SignerVerifier, ref name.Digest) {
	t.Helper()
	payload, err := sigpayload.Cosign{Image: ref}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sv.SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	attachSignature(t, ref, payload, raw)
}

// attachSignature pushes payload and its signature as ref's .sig image.
func attachSignature(t *testing.T, ref name.Digest, payload, raw []byte) {
	t.Helper()
	sig, err := static.NewSignature(payload, base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	se, err := ociremote.SignedEntity(ref)
	if err != nil {
		t.Fatal(err)
	}
	if se, err = mutate.AttachSignatureToEntity(se, sig); err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteSignatures(ref.Repository, se); err != nil {
		t.Fatal(err)
	}
}

// attest attaches a DSSE-wrapped in-toto statement about subject.
func attest(t *testing.T, sv signature.SignerVerifier, ref name.Digest, subject string) {
	t.Helper()
	stmt, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"predicateType": "https://slsa.dev/provenance/v1",
		"subject":       []any{map[string]any{"name": ref.Context().Name(), "digest": map[string]string{"sha256": strings.TrimPrefix(subject, "sha256:")}}},
		"predicate":     map[string]any{"runDetails": map[string]any{"builder": map[string]any{"id": "https://tekton.dev/chains/v2"}}},
	})
	env, err := dsse.WrapSigner(sv, types.IntotoPayloadType).SignMessage(bytes.NewReader(stmt))
	if err != nil {
		t.Fatal(err)
	}
	att, err := static.NewAttestation(env)
	if err != nil {
		t.Fatal(err)
	}
	se, err := ociremote.SignedEntity(ref)
	if err != nil {
		t.Fatal(err)
	}
	if se, err = mutate.AttachAttestationToEntity(se, att); err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteAttestations(ref.Repository, se); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	sv, pub := keyPair(t)
	_, otherPub := keyPair(t)

	signed := pushImage(t, host, "models/granite")
	sign(t, sv, signed)
	attest(t, sv, signed, signed.DigestStr())

	n, err := Signatures(ctx, signed.String(), VerifyOptions{PublicKey: pub})
	if err != nil || n != 1 {
		t.Fatalf("signed image: %d signatures, %v", n, err)
	}
	atts, err := Attestations(ctx, signed.String(), VerifyOptions{PublicKey: pub})
	if err != nil || len(atts) != 1 {
		t.Fatalf("attested image: %+v, %v", atts, err)
	}
	if a := atts[0]; a.PredicateType != "https://slsa.dev/provenance/v1" || a.BuilderID != "https://tekton.dev/chains/v2" || a.Subjects[0] != signed.DigestStr() {
		t.Errorf("attestation = %+v", a)
	}

	// Another key verifies nothing.
	if _, err := Signatures(ctx, signed.String(), VerifyOptions{PublicKey: otherPub}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("other key, signatures: %v", err)
	}
	if _, err := Attestations(ctx, signed.String(), VerifyOptions{PublicKey: otherPub}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("other key, attestations: %v", err)
	}

	// An unsigned image, and an attestation about another image.
	unsigned := pushImage(t, host, "models/unsigned")
	if _, err := Signatures(ctx, unsigned.String(), VerifyOptions{PublicKey: pub}); !errors.Is(err, ErrNotSigned) {
		t.Errorf("unsigned: %v", err)
	}
	if _, err := Attestations(ctx, unsigned.String(), VerifyOptions{PublicKey: pub}); !errors.Is(err, ErrNotAttested) {
		t.Errorf("unattested: %v", err)
	}
	stray := pushImage(t, host, "models/stray")
	attest(t, sv, stray, signed.DigestStr())
	if _, err := Attestations(ctx, stray.String(), VerifyOptions{PublicKey: pub}); err == nil {
		t.Error("an attestation whose subject is another image verified")
	}

	// Bad input says what is wrong.
	if _, err := Signatures(ctx, signed.String(), VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Errorf("no key: %v", err)
	}
	if _, err := Signatures(ctx, signed.String(), VerifyOptions{PublicKey: []byte("not a key")}); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Errorf("bad key: %v", err)
	}
	if _, err := Signatures(ctx, "Not A Ref", VerifyOptions{PublicKey: pub}); err == nil || !strings.Contains(err.Error(), "Not A Ref") {
		t.Errorf("bad ref: %v", err)
	}
}

// A registry that holds a signature too large to be one is refused while
// it is read, naming the limit, not read into memory: whoever can push to
// the image's repository chooses the payloads.
func TestHugeSignatureRefused(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	_, pub := keyPair(t)
	ref := pushImage(t, host, "models/huge-sig")
	attachSignature(t, ref, bytes.Repeat([]byte("x"), 8<<20), []byte("not a signature"))
	_, err := Signatures(context.Background(), ref.String(), VerifyOptions{PublicKey: pub})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "MaxBlobBytes") {
		t.Errorf("8 MiB signature payload: %v", err)
	}
}
