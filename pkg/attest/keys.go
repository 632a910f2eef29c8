package attest

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The key names of a cosign key-pair Secret, as `cosign generate-key-pair
// k8s://ns/name` writes them and Chains and Kyverno read them.
const (
	SecretPrivateKey = "cosign.key"
	SecretPassword   = "cosign.password"
	SecretPublicKey  = "cosign.pub"
)

// KeyScheme prefixes a reference to a key-pair Secret: k8s://<ns>/<name>.
const KeyScheme = "k8s://"

// ErrKeyUnavailable wraps every problem with a signing or verification
// key. Its messages name the key's reference and what is wrong, never a
// byte of the key or its password.
var ErrKeyUnavailable = errors.New("key unavailable")

// Signer signs with one cosign private key. It holds no password: the key
// is decrypted once, when it is loaded.
type Signer struct {
	sv  signature.SignerVerifier
	pub []byte // PEM
	// ref names the key in messages ("k8s://ns/name", a file name).
	ref string
}

// NewSigner decrypts a cosign private key (PEM, as generate-key-pair
// writes it, encrypted with password). ref names it in errors.
func NewSigner(ref string, key, password []byte) (*Signer, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: %s has no private key", ErrKeyUnavailable, ref)
	}
	sv, err := cosign.LoadPrivateKey(key, password, nil)
	if err != nil {
		// cosign's errors say "decrypt", "invalid pem block" or the PEM
		// type: never key material. Still, keep only their first words.
		return nil, fmt.Errorf("%w: %s: cannot load the private key (%s): is it a cosign key, and the password right?", ErrKeyUnavailable, ref, firstWords(err.Error()))
	}
	pk, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyUnavailable, ref, err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(pk)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyUnavailable, ref, err)
	}
	return &Signer{sv: sv, pub: pub, ref: ref}, nil
}

// PublicKey returns the signer's public key, PEM: what verifies it.
func (s *Signer) PublicKey() []byte { return append([]byte(nil), s.pub...) }

// Ref names the key (a k8s:// reference or a file), for reports.
func (s *Signer) Ref() string { return s.ref }

// LoadSigner loads a private key from a k8s://<ns>/<name> Secret (keys
// cosign.key and cosign.password, read with kube) or from a file, whose
// password password returns (nil: none).
func LoadSigner(ctx context.Context, kube kubernetes.Interface, ref string, password func() ([]byte, error)) (*Signer, error) {
	if strings.HasPrefix(ref, KeyScheme) {
		data, err := secretData(ctx, kube, ref)
		if err != nil {
			return nil, err
		}
		return NewSigner(ref, data[SecretPrivateKey], data[SecretPassword])
	}
	key, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyUnavailable, err)
	}
	var pw []byte
	if password != nil {
		if pw, err = password(); err != nil {
			return nil, fmt.Errorf("%w: password of %s: %v", ErrKeyUnavailable, ref, err)
		}
	}
	return NewSigner(ref, key, pw)
}

// LoadPublicKey returns a public key, PEM, from a k8s://<ns>/<name>
// Secret (key cosign.pub), from inline PEM, or from a file.
func LoadPublicKey(ctx context.Context, kube kubernetes.Interface, ref string) ([]byte, error) {
	var pub []byte
	switch {
	case strings.HasPrefix(ref, KeyScheme):
		data, err := secretData(ctx, kube, ref)
		if err != nil {
			return nil, err
		}
		pub = data[SecretPublicKey]
	case strings.HasPrefix(strings.TrimSpace(ref), "-----BEGIN"):
		pub = []byte(ref)
		ref = "the inline public key"
	default:
		b, err := os.ReadFile(ref)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKeyUnavailable, err)
		}
		pub = b
	}
	if err := CheckPublicKey(pub); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyUnavailable, ref, err)
	}
	return pub, nil
}

// CheckPublicKey says whether pub is a PEM public key cosign can verify
// with.
func CheckPublicKey(pub []byte) error {
	if len(pub) == 0 {
		return errors.New("no public key (cosign.pub)")
	}
	if _, err := loadVerifier(pub); err != nil {
		return fmt.Errorf("not a PEM public key: %s", firstWords(err.Error()))
	}
	return nil
}

// ParseSecretRef splits k8s://<ns>/<name>.
func ParseSecretRef(ref string) (ns, name string, err error) {
	rest, ok := strings.CutPrefix(ref, KeyScheme)
	ns, name, found := strings.Cut(rest, "/")
	if !ok || !found || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("%w: %q is not k8s://<namespace>/<secret>", ErrKeyUnavailable, cut(ref, 64))
	}
	return ns, name, nil
}

func secretData(ctx context.Context, kube kubernetes.Interface, ref string) (map[string][]byte, error) {
	ns, name, err := ParseSecretRef(ref)
	if err != nil {
		return nil, err
	}
	if kube == nil {
		return nil, fmt.Errorf("%w: %s: no Kubernetes client to read it with", ErrKeyUnavailable, ref)
	}
	sec, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%w: Secret %s/%s not found", ErrKeyUnavailable, ns, name)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("%w: may not read Secret %s/%s", ErrKeyUnavailable, ns, name)
	case err != nil:
		return nil, fmt.Errorf("%w: read Secret %s/%s: %v", ErrKeyUnavailable, ns, name, err)
	}
	return sec.Data, nil
}

// firstWords keeps an error message short and free of whatever a library
// might have quoted: up to the first colon, at most 40 bytes.
func firstWords(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	return cut(s, 40)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// loadVerifier makes a verifier of a PEM public key, as cosign's
// LoadPublicKeyRaw does. That one lives in a package that also links
// cosign's GitHub, GitLab and KMS key providers, which no key of ours
// comes from: leaving them out keeps them out of the controller's memory.
func loadVerifier(pub []byte) (signature.Verifier, error) {
	pk, err := cryptoutils.UnmarshalPEMToPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return signature.LoadVerifier(pk, crypto.SHA256)
}
