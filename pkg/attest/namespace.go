package attest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// SigningSecret is the Secret, in a run's own namespace, whose cosign key
// pair the controller signs that namespace's statements with (cosign.key,
// cosign.password, cosign.pub — what `cosign generate-key-pair
// k8s://<ns>/modelguard-signing` writes). A namespace opts in by binding
// the ClusterRole SigningSecretReader, which names this one Secret, to
// the controller.
const SigningSecret = "modelguard-signing"

// SigningSecretReader is the ClusterRole that lets the controller read
// SigningSecret (config/222-signing-secret-reader.yaml).
const SigningSecretReader = "modelguard-signing-secret-reader"

// ChainsKeySecret is the Secret, in a run's own namespace, whose
// cosign.pub is the key Tekton Chains signs with: the Secret the Tasks'
// cosign-pub workspace binds, so the VerifyImage custom task and the pod
// Tasks of one pipeline check with the same key. The controller reads it
// only where a namespace bound ChainsKeyReader.
const ChainsKeySecret = "chains-public-key"

// ChainsKeyReader is the ClusterRole that lets the controller read
// ChainsKeySecret (config/223-chains-key-reader.yaml).
const ChainsKeyReader = "modelguard-chains-key-reader"

// NamespaceKeys hands out each namespace's signer, decrypted once per
// version of its Secret.
type NamespaceKeys struct {
	Kube kubernetes.Interface

	reads   singleflight.Group
	mu      sync.Mutex
	signers map[string]*Signer // by namespace@resourceVersion
}

// OptedIn reports whether namespace ns has a SigningSecret the controller
// may read. A namespace that has not opted in is not an error: nothing
// is signed there.
func (k *NamespaceKeys) OptedIn(ctx context.Context, ns string) (bool, error) {
	_, err := k.Kube.CoreV1().Secrets(ns).Get(ctx, SigningSecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read Secret %s/%s: %w", ns, SigningSecret, err)
	}
	return true, nil
}

// OptedInSigner returns namespace ns's signer, or nil (and no error) when
// the namespace has not opted in: one read of the Secret for both.
func (k *NamespaceKeys) OptedInSigner(ctx context.Context, ns string) (*Signer, error) {
	s, err := k.Signer(ctx, ns)
	if errors.Is(err, errNotOptedIn) {
		return nil, nil
	}
	return s, err
}

// errNotOptedIn marks the Secret missing or unreadable.
var errNotOptedIn = errors.New("not opted in")

// Signer returns namespace ns's signer. Problems wrap ErrKeyUnavailable
// and say how to fix them, without a byte of the key.
func (k *NamespaceKeys) Signer(ctx context.Context, ns string) (*Signer, error) {
	// Runs in flight together share one GET, as central.Clients does.
	v, err, _ := k.reads.Do(ns, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return k.Kube.CoreV1().Secrets(ns).Get(ctx, SigningSecret, metav1.GetOptions{})
	})
	sec, _ := v.(*corev1.Secret)
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%w: Secret %s/%s not found: create it with `cosign generate-key-pair k8s://%s/%s` (%w)", ErrKeyUnavailable, ns, SigningSecret, ns, SigningSecret, errNotOptedIn)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("%w: the controller may not read Secret %s/%s: bind ClusterRole %s to ServiceAccount modelguard/modelguard-controller in namespace %s (%w)", ErrKeyUnavailable, ns, SigningSecret, SigningSecretReader, ns, errNotOptedIn)
	case err != nil:
		return nil, fmt.Errorf("read Secret %s/%s: %w", ns, SigningSecret, err)
	}
	key := ns + "@" + sec.ResourceVersion
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, ok := k.signers[key]; ok {
		return s, nil
	}
	s, err := NewSigner(KeyScheme+ns+"/"+SigningSecret, sec.Data[SecretPrivateKey], sec.Data[SecretPassword])
	if err != nil {
		return nil, err
	}
	if k.signers == nil {
		k.signers = map[string]*Signer{}
	}
	for old := range k.signers { // one version per namespace
		if old[:strings.LastIndexByte(old, '@')] == ns {
			delete(k.signers, old)
		}
	}
	k.signers[key] = s
	return s, nil
}

// PublicKey returns namespace ns's public key (cosign.pub of its
// SigningSecret), what verifies the controller's statements there.
func (k *NamespaceKeys) PublicKey(ctx context.Context, ns string) ([]byte, error) {
	return LoadPublicKey(ctx, k.Kube, KeyScheme+ns+"/"+SigningSecret)
}

// ChainsKey returns the key Tekton Chains signs with, as namespace ns
// declares it: cosign.pub of its ChainsKeySecret.
func (k *NamespaceKeys) ChainsKey(ctx context.Context, ns string) ([]byte, error) {
	return LoadPublicKey(ctx, k.Kube, KeyScheme+ns+"/"+ChainsKeySecret)
}
