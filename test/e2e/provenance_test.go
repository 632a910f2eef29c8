package e2e

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/reconciler/pipelinerun"
	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/ociregistry"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	sigs "github.com/sigstore/cosign/v2/pkg/signature"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// optIn creates the namespace's modelguard-signing Secret, as `cosign
// generate-key-pair k8s://<ns>/modelguard-signing` does, and (if bind)
// the RoleBinding that lets the controller read it.
func optIn(t *testing.T, ns string, bind bool) *localcluster.KeyPair {
	t.Helper()
	k, err := localcluster.StoreKeyPair(context.Background(), env.kube, ns, attest.SigningSecret)
	if err != nil {
		t.Fatal(err)
	}
	if bind {
		bindController(t, ns, attest.SigningSecretReader)
	}
	return k
}

func pushRandom(t *testing.T, reg *ociregistry.Registry, repo string) (url, digest string) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(reg.Host + "/" + repo + ":1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return tag.String(), d.String()
}

// releaseRun is a PipelineRun of modelguard custom tasks only: two Echo
// tasks hand the image's URL and digest to the pipeline results (Chains'
// type hints), and a VerifyImage gate refuses the unsigned image.
func releaseRun(t *testing.T, ns, prName, url, digest string, pub []byte) *pipelinev1.PipelineRun {
	t.Helper()
	key, _ := json.Marshal(string(pub))
	createPipelineRun(t, ns, fmt.Sprintf(`
metadata: {name: %s}
spec:
  pipelineSpec:
    tasks:
      - name: url
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
        params: [{name: message, value: %q}]
      - name: digest
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: Echo}
        params: [{name: message, value: %q}]
      - name: verify
        taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: VerifyImage}
        params:
          - {name: image, value: "$(tasks.url.results.message)@$(tasks.digest.results.message)"}
          - {name: public-key, value: %s}
          - {name: wait, value: 0s}
    results:
      - {name: IMAGE_URL, value: $(tasks.url.results.message)}
      - {name: IMAGE_DIGEST, value: $(tasks.digest.results.message)}`, prName, url, digest, key))
	return waitPipelineRun(t, ns, prName, 90*time.Second)
}

func waitAnnotation(t *testing.T, ns, name string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pr, err := env.tekton.TektonV1().PipelineRuns(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v := pr.Annotations[pipelinerun.Annotation]; v != "" || time.Now().After(deadline) {
			return v
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A PipelineRun of CustomRuns — which Chains gives up on — ends with the
// controller's SLSA v1 provenance on its image, signed with the
// namespace's key, listing every child with its outcome; cosign's own
// verification code checks it. Namespaces that did not opt in get none.
func TestPipelineProvenance(t *testing.T) {
	reg := ociregistry.Start(t)
	ns := namespace(t)
	key := optIn(t, ns, true)
	url, digest := pushRandom(t, reg, "models/provenance")
	pr := releaseRun(t, ns, "release", url, digest, key.Public)
	if c := pr.Status.GetCondition("Succeeded"); c.IsTrue() {
		t.Fatalf("the VerifyImage gate passed an unsigned image: %+v", c)
	}
	if got := waitAnnotation(t, ns, "release", 60*time.Second); got != "written" {
		t.Fatalf("%s annotation = %q, want written", pipelinerun.Annotation, got)
	}
	if n := eventCount(t, ns, "release", pipelinerun.ReasonWritten); n != 1 {
		t.Errorf("%d %s events", n, pipelinerun.ReasonWritten)
	}

	// cosign's VerifyImageAttestations, offline, with the namespace's key.
	ref, err := name.ParseReference(url[:strings.LastIndex(url, ":")] + "@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := sigs.LoadPublicKeyRaw(key.Public, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	atts, _, err := cosign.VerifyImageAttestations(context.Background(), ref, &cosign.CheckOpts{
		SigVerifier: verifier, ClaimVerifier: cosign.IntotoSubjectClaimVerifier, IgnoreTlog: true, IgnoreSCT: true, Offline: true,
		RegistryClientOpts: []ociremote.Option{},
	})
	if err != nil || len(atts) != 1 {
		t.Fatalf("cosign.VerifyImageAttestations: %d, %v", len(atts), err)
	}
	raw, _ := atts[0].Payload()
	var envelope struct{ Payload []byte }
	if err := json.Unmarshal(raw, &envelope); err != nil {
		t.Fatal(err)
	}
	var st struct {
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			BuildDefinition struct {
				InternalParameters map[string]any `json:"internalParameters"`
			} `json:"buildDefinition"`
			RunDetails struct {
				Builder    struct{ ID string } `json:"builder"`
				Byproducts []struct {
					MediaType   string     `json:"mediaType"`
					Annotations attest.Run `json:"annotations"`
				} `json:"byproducts"`
			} `json:"runDetails"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(envelope.Payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.PredicateType != attest.PredicateSLSA1 || st.Predicate.RunDetails.Builder.ID != attest.PipelineBuilderID || st.Predicate.BuildDefinition.InternalParameters["namespace"] != ns {
		t.Errorf("statement: %s by %s in %v", st.PredicateType, st.Predicate.RunDetails.Builder.ID, st.Predicate.BuildDefinition.InternalParameters["namespace"])
	}
	runs := map[string]attest.Run{}
	for _, b := range st.Predicate.RunDetails.Byproducts {
		if b.MediaType == attest.RunMediaType {
			runs[b.Annotations.PipelineTask] = b.Annotations
		}
	}
	if len(runs) != 3 || runs["url"].Kind != "CustomRun" || runs["url"].Ref != "modelguard.dev/v1alpha1/Echo" || !runs["digest"].Succeeded() {
		t.Errorf("runs: %+v", runs)
	}
	if v := runs["verify"]; v.Succeeded() || v.Reason != attest.ReasonNotSigned || v.UID == "" {
		t.Errorf("the failed gate is not recorded as such: %+v", v)
	}

	// The statement says the gate failed; VerifyImage says so too.
	rep, err := attest.VerifyImage(context.Background(), attest.ImagePolicy{Image: ref.String(), Key: key.Public, RequiredGates: []string{"verify"}})
	if err != nil || rep.Reason != attest.ReasonNotSigned {
		t.Errorf("VerifyImage: %+v %v", rep, err)
	}

	// No opt-in, or a Secret the controller may not read: nothing signed.
	for _, bind := range []bool{false, true} {
		other := namespace(t)
		if bind {
			optIn(t, other, false)
		}
		url, digest := pushRandom(t, reg, "models/"+other)
		releaseRun(t, other, "release", url, digest, key.Public)
		if got := waitAnnotation(t, other, "release", 3*time.Second); got != "" {
			t.Errorf("namespace without opt-in (Secret: %v): annotation %q", bind, got)
		}
		r, err := name.ParseReference(url[:strings.LastIndex(url, ":")] + "@" + digest)
		if err != nil {
			t.Fatal(err)
		}
		se, err := ociremote.SignedEntity(r)
		if err != nil {
			t.Fatal(err)
		}
		if atts, err := se.Attestations(); err == nil {
			if l, _ := atts.Get(); len(l) > 0 {
				t.Errorf("namespace without opt-in (Secret: %v): %d attestations written", bind, len(l))
			}
		}
	}
}

// The ACS kinds sign their decisions with the namespace's key once it
// opted in: ImageScan's vuln statement and ImageCheck's verdict verify
// with cosign's code, and VerifyImage, reading the attestor key from the
// namespace's Secret, passes the freshly scanned image. The controller's
// log never shows the key.
func TestGateAttestations(t *testing.T) {
	reg := ociregistry.Start(t)
	central := startCentral(t)
	central.ScanUnknownAs(&acsemulator.Image{User: "65532", Components: []acsemulator.Component{{Name: "busybox", Version: "1.37.0"}}})
	ns := acsNamespace(t, central, centralToken, true)
	key := optIn(t, ns, true)
	url, digest := pushRandom(t, reg, "models/gated")
	image := url[:strings.LastIndex(url, ":")] + "@" + digest
	// Chains' part, played by the namespace's key: a signature.
	signer, err := attest.NewSigner("test", key.Private, key.Password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer.Sign(context.Background(), image, attest.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	scan := scanRun(t, ns, "scan", image, "")
	wantOutcome(t, "scan", scan, true, "Succeeded", "")
	createCustomRun(t, ns, fmt.Sprintf(`
metadata: {name: check}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: ImageCheck}
  params: [{name: image, value: %q}]`, image))
	wantOutcome(t, "check", waitDone(t, ns, "check"), true, "Succeeded", "")

	atts, err := attest.Attestations(context.Background(), image, attest.VerifyOptions{PublicKey: key.Public})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, a := range atts {
		types[a.PredicateType] = string(a.Predicate)
	}
	if !strings.Contains(types[attest.PredicateVuln], `"verdict":"pass"`) || !strings.Contains(types[attest.PredicateImageCheck], `"gate":"ImageCheck"`) ||
		!strings.Contains(types[attest.PredicateVuln], "tekton.dev/v1beta1/CustomRun/"+ns+"/scan") {
		t.Errorf("statements: %v", types)
	}

	pub, _ := json.Marshal(string(key.Public))
	createCustomRun(t, ns, fmt.Sprintf(`
metadata: {name: verify}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: VerifyImage}
  params:
    - {name: image, value: %q}
    - {name: public-key, value: %s}
    - {name: max-scan-age, value: 1h}`, url+"@"+digest, pub))
	verify := waitDone(t, ns, "verify")
	wantOutcome(t, "verify", verify, true, "Succeeded", "")
	if result(verify, "scan") != "pass" || result(verify, "tag") != "pass" {
		t.Errorf("verify results: %+v", verify.Status.Results)
	}
	// Without public-key, VerifyImage reads Chains' key from the
	// namespace's chains-public-key Secret (the one the Tasks' cosign-pub
	// workspace binds) — only once the namespace let the controller read it.
	if _, err := env.kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: attest.ChainsKeySecret},
		Data: map[string][]byte{"cosign.pub": key.Public}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	noKey := func(name string) *v1beta1.CustomRun {
		createCustomRun(t, ns, fmt.Sprintf(`
metadata: {name: %s}
spec:
  customRef: {apiVersion: modelguard.dev/v1alpha1, kind: VerifyImage}
  params: [{name: image, value: %q}]`, name, image))
		return waitDone(t, ns, name)
	}
	unbound := noKey("verify-unbound")
	wantOutcome(t, "verify-unbound", unbound, false, "SigningKeyUnavailable", attest.ChainsKeyReader)
	bindController(t, ns, attest.ChainsKeyReader)
	wantOutcome(t, "verify-namespace-key", noKey("verify-namespace-key"), true, "Succeeded", "")

	log, err := os.ReadFile(env.controller.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range [][]byte{key.Password, key.Private[40:80]} {
		if strings.Contains(string(log), string(secret)) {
			t.Error("the controller's log quotes the namespace's signing key or its password")
		}
	}
}
