package pods

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/test/localcluster"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// keySecret stores a fresh key pair in Secret ns/name.
func keySecret(t *testing.T, ns, name string) *localcluster.KeyPair {
	t.Helper()
	k, err := localcluster.StoreKeyPair(context.Background(), env.kube, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pubConfigMap holds only cosign.pub: what a verifying pod may mount.
func pubConfigMap(t *testing.T, ns, name string, pub []byte) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{attest.SecretPublicKey: string(pub)}}
	if _, err := env.kube.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// noKeyMaterial fails if any text quotes a private key or its password.
func noKeyMaterial(t *testing.T, where string, text string, keys ...*localcluster.KeyPair) {
	t.Helper()
	if strings.Contains(text, "PRIVATE KEY") {
		t.Errorf("%s quotes a private key", where)
	}
	for _, k := range keys {
		body := strings.Split(strings.TrimSpace(string(k.Private)), "\n")
		if len(body) < 3 {
			body = []string{"", ""} // no PEM body to look for
		}
		for _, line := range body[1 : len(body)-1] {
			if len(line) > 16 && strings.Contains(text, line) {
				t.Errorf("%s quotes a line of a private key", where)
				break
			}
		}
		if strings.Contains(text, string(k.Password)) {
			t.Errorf("%s quotes a key's password", where)
		}
	}
}

// taskRunText is everything a TaskRun shows: its log, results, condition.
func taskRunText(t *testing.T, tr *pipelinev1.TaskRun) string {
	b, _ := json.Marshal(tr.Status)
	return logs(t, tr) + string(b)
}

// cosign-sign in a pod: the image is signed with the Secret's key and the
// signature verifies with cosign's code; a wrong password fails, saying
// so without the password; neither run shows key material.
func testCosignSign(t *testing.T) {
	ns := namespace(t, "cosign-sign")
	applyTask(t, ns, "cosign-sign")
	key := keySecret(t, ns, "release-signing")
	image := buildTiny(t, "models/tiny-sign")

	tr := taskRun{name: "sign", params: map[string]string{"image": image},
		workspaces: []pipelinev1.WorkspaceBinding{secretWorkspace("signing-key", "release-signing")}}.run(t, ns, "cosign-sign")
	wantDone(t, tr, true, "signed "+image)
	noKeyMaterial(t, "cosign-sign", taskRunText(t, tr), key)
	if got := result(tr, "IMAGE"); got != image {
		t.Errorf("IMAGE = %q, want %q", got, image)
	}
	if n, err := attest.Signatures(context.Background(), image, attest.VerifyOptions{PublicKey: key.Public}); err != nil || n != 1 {
		t.Errorf("signature: %d, %v", n, err)
	}

	bad := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "wrong-password"},
		Data: map[string][]byte{"cosign.key": key.Private, "cosign.password": []byte("not-" + string(key.Password))}}
	if _, err := env.kube.CoreV1().Secrets(ns).Create(context.Background(), bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr = taskRun{name: "wrong-password", params: map[string]string{"image": image},
		workspaces: []pipelinev1.WorkspaceBinding{secretWorkspace("signing-key", "wrong-password")}}.run(t, ns, "cosign-sign")
	wantDone(t, tr, false, "cannot load the private key")
	noKeyMaterial(t, "cosign-sign with a wrong password", taskRunText(t, tr), key, &localcluster.KeyPair{Password: bad.Data["cosign.password"]})
}

// cosign-attest in a pod: a vuln predicate from a workspace becomes a
// statement that cosign verifies; a second run replaces it.
func testCosignAttest(t *testing.T) {
	ns := namespace(t, "cosign-attest")
	applyTask(t, ns, "cosign-attest")
	key := keySecret(t, ns, "release-signing")
	image := buildTiny(t, "models/tiny-attest")
	for i, verdict := range []string{"fail", "pass"} {
		scan := attest.VulnPredicate(attest.Scan{ScannerURI: "https://stackrox.io", ScannerVersion: "4.7", Started: time.Now(), Finished: time.Now(),
			Result: attest.ScanResult{Verdict: verdict, Summary: "scan " + verdict}})
		b, _ := json.Marshal(scan)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "scan-" + verdict}, Data: map[string]string{"predicate.json": string(b)}}
		if _, err := env.kube.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr := taskRun{name: "attest-" + verdict, params: map[string]string{"image": image, "predicate-type": "vuln"},
			workspaces: []pipelinev1.WorkspaceBinding{secretWorkspace("signing-key", "release-signing"), configMapWorkspace("predicate", "scan-"+verdict)}}.run(t, ns, "cosign-attest")
		wantDone(t, tr, true, "attested "+attest.PredicateVuln)
		noKeyMaterial(t, "cosign-attest", taskRunText(t, tr), key)
		atts, err := attest.Attestations(context.Background(), image, attest.VerifyOptions{PublicKey: key.Public})
		if err != nil || len(atts) != 1 || !strings.Contains(string(atts[0].Predicate), `"verdict":"`+verdict+`"`) {
			t.Errorf("after run %d: %d attestations, %v; want the one %s scan", i, len(atts), err, verdict)
		}
	}
}

// verify-image in a pod, the same engine as the VerifyImage kind: a
// signed, freshly scanned image passes; another key fails with WrongKey,
// and the results are written either way.
func testVerifyImage(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "verify-image")
	applyTask(t, ns, "verify-image")
	signer, attestor := mustKeys(t), mustKeys(t)
	image := buildTiny(t, "models/tiny-verify")
	s, err := attest.NewSigner("test signer", signer.Private, signer.Password)
	if err != nil {
		t.Fatal(err)
	}
	a, err := attest.NewSigner("test attestor", attestor.Private, attestor.Password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(ctx, image, attest.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	scan := attest.VulnPredicate(attest.Scan{Finished: time.Now(), Result: attest.ScanResult{Verdict: "pass"}})
	if _, err := a.Attest(ctx, image, attest.PredicateVuln, scan, attest.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	pubConfigMap(t, ns, "signer-pub", signer.Public)
	pubConfigMap(t, ns, "attestor-pub", attestor.Public)
	pubConfigMap(t, ns, "other-pub", mustKeys(t).Public)

	tr := taskRun{name: "verified", params: map[string]string{"image": image, "max-scan-age": "1h", "wait": "0s"},
		workspaces: []pipelinev1.WorkspaceBinding{configMapWorkspace("cosign-pub", "signer-pub"), configMapWorkspace("attestor-pub", "attestor-pub")}}.run(t, ns, "verify-image")
	wantDone(t, tr, true, "verified")
	if result(tr, "verified") != "true" || result(tr, "scan") != "pass" || result(tr, "signature") != "pass" {
		t.Errorf("results: %+v", tr.Status.Results)
	}
	tr = taskRun{name: "other-key", params: map[string]string{"image": image, "wait": "0s"},
		workspaces: []pipelinev1.WorkspaceBinding{configMapWorkspace("cosign-pub", "other-pub")}}.run(t, ns, "verify-image")
	wantDone(t, tr, false, "WrongKey")
	if result(tr, "verified") != "false" || result(tr, "reason") != attest.ReasonWrongKey {
		t.Errorf("results: %+v", tr.Status.Results)
	}
}

func mustKeys(t *testing.T) *localcluster.KeyPair {
	t.Helper()
	k, err := localcluster.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
