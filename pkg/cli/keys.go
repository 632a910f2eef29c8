package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
)

// keyFlags name one key: --<name> (a file, k8s://<ns>/<secret>, or PEM)
// or --<name>-dir (a directory holding cosign.pub, or cosign.key and
// cosign.password: a Secret mounted as a Task workspace; given but empty,
// as an unbound optional workspace is, means not given).
type keyFlags struct {
	flag, ref, dir string
}

func (k *keyFlags) register(f *pflag.FlagSet, name, usage string) {
	k.flag = name
	f.StringVar(&k.ref, name, "", usage+": a file, k8s://<namespace>/<secret>, or the PEM itself")
	f.StringVar(&k.dir, name+"-dir", "", "a directory (a mounted Secret) holding the --"+name+" as cosign.pub, or cosign.key and cosign.password")
}

func (k *keyFlags) given() bool { return k.ref != "" || k.dir != "" }

func (k *keyFlags) check() error {
	if k.ref != "" && k.dir != "" {
		return fmt.Errorf("--%s and --%s-dir: give one", k.flag, k.flag)
	}
	return nil
}

// needsKube reports whether the key lives in a cluster Secret.
func (k *keyFlags) needsKube() bool { return strings.HasPrefix(k.ref, attest.KeyScheme) }

func (k *keyFlags) publicKey(ctx context.Context, kubeconfig string) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	ref := k.ref
	if k.dir != "" {
		ref = filepath.Join(k.dir, attest.SecretPublicKey)
	}
	kube, err := k.kube(kubeconfig)
	if err != nil {
		return nil, err
	}
	pub, err := attest.LoadPublicKey(ctx, kube, ref)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", k.flag, err)
	}
	return pub, nil
}

// signer loads a private key. The password of a key file comes from
// passwordFile, else $COSIGN_PASSWORD (as cosign reads it), else none; a
// key directory holds its own cosign.password.
func (k *keyFlags) signer(ctx context.Context, kubeconfig, passwordFile string) (*attest.Signer, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	ref := k.ref
	password := func() ([]byte, error) {
		if passwordFile != "" {
			b, err := os.ReadFile(passwordFile)
			return []byte(strings.TrimRight(string(b), "\r\n")), err
		}
		return []byte(os.Getenv("COSIGN_PASSWORD")), nil
	}
	if k.dir != "" {
		ref = filepath.Join(k.dir, attest.SecretPrivateKey)
		password = func() ([]byte, error) {
			b, err := os.ReadFile(filepath.Join(k.dir, attest.SecretPassword))
			if errors.Is(err, os.ErrNotExist) {
				return nil, nil // an unencrypted key
			}
			return b, err
		}
	}
	if ref == "" {
		return nil, fmt.Errorf("--%s (or --%s-dir) is required", k.flag, k.flag)
	}
	kube, err := k.kube(kubeconfig)
	if err != nil {
		return nil, err
	}
	s, err := attest.LoadSigner(ctx, kube, ref, password)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", k.flag, err)
	}
	return s, nil
}

func (k *keyFlags) kube(kubeconfig string) (kubernetes.Interface, error) {
	if !k.needsKube() {
		return nil, nil
	}
	return kubeClient(kubeconfig)
}
