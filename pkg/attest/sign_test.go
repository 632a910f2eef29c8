package attest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// testKeys is one generated key pair, as generate-key-pair writes it.
type testKeys struct {
	private, password, public []byte
}

func generate(t testing.TB) testKeys {
	t.Helper()
	pw := []byte("pw-" + t.Name())
	kp, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return pw, nil })
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{kp.PrivateBytes, pw, kp.PublicBytes}
}

func (k testKeys) signer(t testing.TB) *Signer {
	t.Helper()
	s, err := NewSigner("test key", k.private, k.password)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startRegistry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestSignAndAttest(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t)
	k := generate(t)
	s := k.signer(t)
	img := pushImage(t, host, "models/granite").String()
	vo := VerifyOptions{PublicKey: k.public}

	// Signing twice leaves one signature: cosign's duplicate detection.
	for range 2 {
		if _, err := s.Sign(ctx, img, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := Signatures(ctx, img, vo); err != nil || n != 1 {
		t.Fatalf("signatures: %d, %v", n, err)
	}

	// A second scan replaces the first; another type stays beside it.
	for _, p := range []map[string]string{{"run": "1"}, {"run": "2"}} {
		if _, err := s.Attest(ctx, img, PredicateVuln, p, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Attest(ctx, img, PredicateImageCheck, map[string]string{"verdict": "pass"}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	atts, err := Attestations(ctx, img, vo)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range atts {
		got[a.PredicateType] += string(a.Predicate)
	}
	if len(atts) != 2 || got[PredicateVuln] != `{"run":"2"}` || got[PredicateImageCheck] == "" {
		t.Errorf("attestations after a re-scan: %v", got)
	}

	// Another key's statement of the same type is not ours to replace.
	other := generate(t).signer(t)
	if _, err := other.Attest(ctx, img, PredicateVuln, map[string]string{"by": "other"}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Attest(ctx, img, PredicateVuln, map[string]string{"run": "3"}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := countAtts(t, img); n != 3 {
		t.Errorf("%d attestations; want ours (vuln, check) and the other key's", n)
	}

	// A tag is not something to sign.
	for _, bad := range []string{host + "/models/granite:v1", "Not A Ref"} {
		if _, err := s.Sign(ctx, bad, WriteOptions{}); err == nil || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("Sign(%q): %v", bad, err)
		}
	}
}

// A provenance statement replaces only one by the same builder: Chains'
// TaskRun provenance and the pipeline's share a predicate type.
func TestAttestReplacesByBuilder(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t)
	s := generate(t).signer(t)
	img := pushImage(t, host, "models/p").String()
	for _, b := range []string{"https://tekton.dev/chains/v2", "https://modelguard.dev/pipeline", "https://modelguard.dev/pipeline"} {
		p := map[string]any{"runDetails": map[string]any{"builder": map[string]string{"id": b}}}
		if _, err := s.Attest(ctx, img, PredicateSLSA1, p, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := countAtts(t, img); n != 2 {
		t.Errorf("%d provenance statements; want one per builder", n)
	}
}

// Concurrent writers on one digest lose nothing: in one process the lock
// serialises them, across processes the read-back-and-retry does.
func TestConcurrentWritesOneDigest(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t)
	k := generate(t)
	s := k.signer(t)
	img := pushImage(t, host, "models/c").String()

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 10 {
		wg.Go(func() {
			_, err := s.Attest(ctx, img, fmt.Sprintf("https://example.com/in-process/%d", i), map[string]int{"i": i}, WriteOptions{})
			errs <- err
		})
	}
	// Two other processes write at the same time, through the registry.
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "cosign.key")
	if err := os.WriteFile(keyFile, k.private, 0o600); err != nil {
		t.Fatal(err)
	}
	for p := range 2 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
			cmd.Env = append(os.Environ(), "ATTEST_HELPER_IMAGE="+img, "ATTEST_HELPER_KEY="+keyFile,
				"ATTEST_HELPER_PASSWORD="+string(k.password), fmt.Sprintf("ATTEST_HELPER_ID=%d", p))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("writer process %d: %v\n%s", p, err, out)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := countAtts(t, img); n != 10+2*5 {
		t.Errorf("%d attestations after 20 concurrent writes", n)
	}
}

// TestHelperWriter is the other process of TestConcurrentWritesOneDigest.
func TestHelperWriter(t *testing.T) {
	img := os.Getenv("ATTEST_HELPER_IMAGE")
	if img == "" {
		t.Skip("run by TestConcurrentWritesOneDigest")
	}
	s, err := LoadSigner(context.Background(), nil, os.Getenv("ATTEST_HELPER_KEY"), func() ([]byte, error) {
		return []byte(os.Getenv("ATTEST_HELPER_PASSWORD")), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			pt := fmt.Sprintf("https://example.com/process-%s/%d", os.Getenv("ATTEST_HELPER_ID"), i)
			if _, err := s.Attest(context.Background(), img, pt, map[string]int{"i": i}, WriteOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func countAtts(t *testing.T, img string) int {
	t.Helper()
	r, co, _, err := VerifyOptions{PublicKey: generate(t).public}.checkOpts(img)
	if err != nil {
		t.Fatal(err)
	}
	n, err := countAttestations(r, co)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoadKeys(t *testing.T) {
	ctx := context.Background()
	k := generate(t)
	kube := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "modelguard-signing"},
		Data:       map[string][]byte{SecretPrivateKey: k.private, SecretPassword: k.password, SecretPublicKey: k.public},
	}, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "wrong-password"},
		Data:       map[string][]byte{SecretPrivateKey: k.private, SecretPassword: []byte("nope")},
	})
	s, err := LoadSigner(ctx, kube, "k8s://ml/modelguard-signing", nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.PublicKey()) != string(k.public) {
		t.Error("the signer's public key is not cosign.pub")
	}
	pub, err := LoadPublicKey(ctx, kube, "k8s://ml/modelguard-signing")
	if err != nil || string(pub) != string(k.public) {
		t.Errorf("public key from the Secret: %v", err)
	}
	if pub, err := LoadPublicKey(ctx, nil, string(k.public)); err != nil || string(pub) != string(k.public) {
		t.Errorf("inline public key: %v", err)
	}
	for ref, want := range map[string]string{
		"k8s://ml/missing":        "not found",
		"k8s://ml/wrong-password": "cannot load the private key",
		"k8s://ml":                "not k8s://<namespace>/<secret>",
		"k8s://ml/a/b":            "not k8s://<namespace>/<secret>",
		"/nonexistent/cosign.key": "no such file",
	} {
		_, err := LoadSigner(ctx, kube, ref, nil)
		if !errors.Is(err, ErrKeyUnavailable) || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadSigner(%q) = %v, want %q", ref, err, want)
			continue
		}
		// No error ever carries the key or its password.
		for _, secret := range [][]byte{k.private, k.password, []byte("nope")} {
			if strings.Contains(err.Error(), string(secret)) {
				t.Errorf("LoadSigner(%q) error quotes key material: %v", ref, err)
			}
		}
	}
	if _, err := LoadPublicKey(ctx, nil, "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n"); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("garbage public key: %v", err)
	}
}

// The transparency-log switch is honoured: with a log named, a signature
// that cannot be recorded there is not written at all (no silent
// fallback to offline).
func TestTransparencyLogSwitch(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t)
	k := generate(t)
	s := k.signer(t)
	img := pushImage(t, host, "models/tlog").String()
	o := WriteOptions{TransparencyLog: "http://127.0.0.1:1"} // nothing listens there
	if _, err := s.Sign(ctx, img, o); err == nil || !strings.Contains(err.Error(), "transparency log http://127.0.0.1:1") {
		t.Errorf("Sign with an unreachable log: %v", err)
	}
	if _, err := s.Attest(ctx, img, PredicateVuln, map[string]string{}, o); err == nil || !strings.Contains(err.Error(), "transparency log") {
		t.Errorf("Attest with an unreachable log: %v", err)
	}
	if _, err := Signatures(ctx, img, VerifyOptions{PublicKey: k.public}); !errors.Is(err, ErrNotSigned) {
		t.Errorf("something was written anyway: %v", err)
	}
}

// Runs signing in one namespace at once read its Secret once, not once a
// run.
func TestConcurrentSignersShareOneGet(t *testing.T) {
	k := generate(t)
	kube := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: SigningSecret},
		Data:       map[string][]byte{SecretPrivateKey: k.private, SecretPassword: k.password, SecretPublicKey: k.public},
	})
	var gets atomic.Int32
	entered, release := make(chan struct{}, 100), make(chan struct{})
	kube.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		gets.Add(1)
		entered <- struct{}{}
		<-release
		return false, nil, nil
	})
	keys := &NamespaceKeys{Kube: kube}
	const n = 20
	errs := make([]error, n)
	var wg, started sync.WaitGroup
	for i := range n {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			_, errs[i] = keys.Signer(context.Background(), "ml")
		}()
	}
	// The first GET is held until every read has started and had a
	// moment to reach it; only one of them need share it for the test to
	// tell, and without sharing all n GET.
	<-entered
	started.Wait()
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if g := gets.Load(); g >= n {
		t.Errorf("%d GETs for %d concurrent signers of one namespace", g, n)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("signer %d: %v", i, err)
		}
	}
}
