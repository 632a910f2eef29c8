package localcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// KeyPair is a cosign key pair as `cosign generate-key-pair` makes it:
// the encrypted private key, its password, the public key (all PEM but
// the password). Tests grep for Private and Password to prove neither
// leaks.
type KeyPair struct {
	Private, Password, Public []byte
}

// NewKeyPair generates a key pair with a random password.
func NewKeyPair() (*KeyPair, error) {
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	k := &KeyPair{Password: []byte(hex.EncodeToString(pw))}
	kp, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return k.Password, nil })
	if err != nil {
		return nil, fmt.Errorf("generate cosign key pair: %w", err)
	}
	k.Private, k.Public = kp.PrivateBytes, kp.PublicBytes
	return k, nil
}

// SecretData is the key pair as a Secret holds it (cosign.key,
// cosign.password, cosign.pub).
func (k *KeyPair) SecretData() map[string][]byte {
	return map[string][]byte{"cosign.key": k.Private, "cosign.password": k.Password, "cosign.pub": k.Public}
}

// StoreKeyPair generates a key pair into Secret ns/name, as `cosign
// generate-key-pair k8s://<ns>/<name>` does (an existing Secret, such as
// the empty one Chains' release ships, is filled in).
func StoreKeyPair(ctx context.Context, client kubernetes.Interface, ns, name string) (*KeyPair, error) {
	k, err := NewKeyPair()
	if err != nil {
		return nil, err
	}
	secrets := client.CoreV1().Secrets(ns)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: k.SecretData()}
		_, err = secrets.Create(ctx, s, metav1.CreateOptions{})
	case err == nil:
		s.Data = k.SecretData()
		_, err = secrets.Update(ctx, s, metav1.UpdateOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("key pair Secret %s/%s: %w", ns, name, err)
	}
	return k, nil
}
