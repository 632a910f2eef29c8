package pods

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/reconciler/pipelinerun"
	"github.com/modelguard/modelguard/test/localcluster"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"knative.dev/pkg/apis"
)

// The model's source as the release records it.
const (
	releaseSource   = "https://github.com/acme/tiny-model"
	releaseRevision = "0123456789abcdef0123456789abcdef01234567"
)

// checkRelease: when the release PipelineRun ended, the controller wrote
// its provenance; VerifyImage (the custom task) passes the released image
// against the full policy, and each way of tampering fails with its own
// reason: another key, another repository, a scan too old, a TaskRun
// outside the pipeline that emits an arbitrary image (which Chains signs),
// and the image re-pushed under its tag. Nothing shows the key.
func checkRelease(t *testing.T, pr *pipelinev1.PipelineRun, url, digest string, signing *localcluster.KeyPair) {
	t.Helper()
	ns := pr.Namespace
	if got := waitProvenance(t, ns, pr.Name); got != "written" {
		t.Fatalf("%s = %q, want written", pipelinerun.Annotation, got)
	}
	image := url + "@" + digest
	checkPipelineProvenance(t, pr, image, signing.Public)
	full := map[string]string{
		"image": image, "public-key": string(env.chains.PublicKey),
		"builder-id": "https://tekton.dev/chains/v2", "build-task": "model-image-build",
		"source-repository": releaseSource, "source-revision": releaseRevision,
		"namespace": ns, "max-scan-age": "1h", "wait": "0s",
	}
	gates := []string{"scan", "check", "ImageScan"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range full {
			m[a] = b
		}
		m[k] = v
		return m
	}
	run := verifyRun(t, ns, "verify-release", full, gates)
	if c := run.Status.GetCondition(apis.ConditionSucceeded); !c.IsTrue() {
		t.Fatalf("VerifyImage of the release: %s %s", c.Reason, c.Message)
	}
	for _, check := range []string{"tag", "signature", "build-provenance", "pipeline-provenance", "scan"} {
		if got := runResult(run, check); got != "pass" {
			t.Errorf("check %s: %q", check, got)
		}
	}

	other, err := localcluster.NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, verifyRun(t, ns, "other-key", with("public-key", string(other.Public)), gates), attest.ReasonWrongKey)
	wantReason(t, verifyRun(t, ns, "other-repository", with("source-repository", "https://github.com/evil/tiny-model"), gates), attest.ReasonWrongSource)
	wantReason(t, verifyRun(t, ns, "other-namespace", with("namespace", "somewhere-else"), gates), attest.ReasonWrongNamespace)
	wantReason(t, verifyRun(t, ns, "missing-gate", full, append(gates, "DeploymentCheck")), attest.ReasonGateMissing)
	time.Sleep(1100 * time.Millisecond)
	wantReason(t, verifyRun(t, ns, "scan-too-old", with("max-scan-age", "1s"), gates), attest.ReasonScanTooOld)

	// A TaskRun outside the pipeline emits IMAGE_URL/IMAGE_DIGEST for an
	// arbitrary image; Chains signs it and attests its provenance.
	rogueURL, rogueDigest := arbitraryImage(t, "models/rogue")
	rogueTaskRun(t, ns, rogueURL, rogueDigest)
	rogue := rogueURL + "@" + rogueDigest
	if rep, err := attest.VerifyImage(context.Background(), attest.ImagePolicy{Image: rogue, Key: env.chains.PublicKey}); err != nil || !rep.Pass {
		t.Fatalf("the rogue image is not signed by Chains: %v %s: %s\n--- chains ---\n%s", err, rep.Reason, rep.Message, chainsLog())
	}
	wantReason(t, verifyRun(t, ns, "rogue", with("image", rogue), gates), attest.ReasonWrongTask)
	noTask := with("image", rogue)
	for _, k := range []string{"build-task", "source-repository", "source-revision"} {
		delete(noTask, k)
	}
	wantReason(t, verifyRun(t, ns, "rogue-any-task", noTask, gates), attest.ReasonNoPipelineProvenance)

	// Another image pushed under the release's tag.
	pushUnder(t, url)
	wantReason(t, verifyRun(t, ns, "repushed", full, gates), attest.ReasonTagMoved)

	noLeaks(t, []string{ns, pr.Spec.Params[indexOf(pr.Spec.Params, "serving-namespace")].Value.StringVal}, signing)
}

// checkPipelineProvenance: cosign's own verification code
// (cosign.VerifyImageAttestations, through attest.Attestations) accepts the
// pipeline provenance with the namespace's key, and it lists every child of
// the PipelineRun — the TaskRuns and the CustomRuns Chains skips — with
// the outcome the cluster recorded.
func checkPipelineProvenance(t *testing.T, pr *pipelinev1.PipelineRun, image string, pub []byte) {
	t.Helper()
	atts, err := attest.Attestations(context.Background(), image, attest.VerifyOptions{PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	var runs map[string]attest.Run
	for _, a := range atts {
		if a.PredicateType != attest.PredicateSLSA1 || a.BuilderID != attest.PipelineBuilderID {
			continue
		}
		var p struct {
			RunDetails struct {
				Byproducts []struct {
					MediaType   string     `json:"mediaType"`
					Annotations attest.Run `json:"annotations"`
				} `json:"byproducts"`
			} `json:"runDetails"`
		}
		if err := json.Unmarshal(a.Predicate, &p); err != nil {
			t.Fatal(err)
		}
		runs = map[string]attest.Run{}
		for _, b := range p.RunDetails.Byproducts {
			if b.MediaType == attest.RunMediaType {
				runs[b.Annotations.Name] = b.Annotations
			}
		}
	}
	if runs == nil {
		t.Fatalf("no pipeline provenance among %d attestations", len(atts))
	}
	kinds := map[string]int{}
	for _, c := range pr.Status.ChildReferences {
		r, ok := runs[c.Name]
		if !ok || r.Kind != c.Kind || r.PipelineTask != c.PipelineTaskName || !r.Succeeded() {
			t.Errorf("child %s %s (%s): in the provenance as %+v", c.Kind, c.Name, c.PipelineTaskName, r)
		}
		kinds[c.Kind]++
	}
	if len(runs) != len(pr.Status.ChildReferences) || kinds["TaskRun"] < 2 || kinds["CustomRun"] < 4 {
		t.Errorf("provenance lists %d runs for %d children (%v)", len(runs), len(pr.Status.ChildReferences), kinds)
	}
}

func indexOf(ps pipelinev1.Params, name string) int {
	for i, p := range ps {
		if p.Name == name {
			return i
		}
	}
	return 0
}

func waitProvenance(t *testing.T, ns, name string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pr, err := env.tekton.TektonV1().PipelineRuns(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v := pr.Annotations[pipelinerun.Annotation]; v != "" || time.Now().After(deadline) {
			return v
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// verifyRun runs a VerifyImage CustomRun and waits for it.
func verifyRun(t *testing.T, ns, name string, params map[string]string, gates []string) *v1beta1.CustomRun {
	t.Helper()
	ctx := context.Background()
	cr := &v1beta1.CustomRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1beta1.CustomRunSpec{CustomRef: &v1beta1.TaskRef{APIVersion: "modelguard.dev/v1alpha1", Kind: "VerifyImage"}}}
	for k, v := range params {
		cr.Spec.Params = append(cr.Spec.Params, v1beta1.Param{Name: k, Value: *v1beta1.NewStructuredValues(v)})
	}
	cr.Spec.Params = append(cr.Spec.Params, v1beta1.Param{Name: "required-gates", Value: v1beta1.ParamValue{Type: v1beta1.ParamTypeArray, ArrayVal: gates}})
	if _, err := env.tekton.TektonV1beta1().CustomRuns(ns).Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := env.tekton.TektonV1beta1().CustomRuns(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.IsDone() {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("VerifyImage %s not done: %+v", name, got.Status.Conditions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runResult(cr *v1beta1.CustomRun, name string) string {
	for _, r := range cr.Status.Results {
		if r.Name == name {
			return r.Value
		}
	}
	return ""
}

func wantReason(t *testing.T, cr *v1beta1.CustomRun, reason string) {
	t.Helper()
	c := cr.Status.GetCondition(apis.ConditionSucceeded)
	if c.IsTrue() || c.Reason != reason || runResult(cr, "reason") != reason {
		t.Errorf("VerifyImage %s: %s %s (reason result %q), want %s", cr.Name, c.Reason, c.Message, runResult(cr, "reason"), reason)
	}
}

// arbitraryImage pushes an image no pipeline built; it returns repo:tag
// and its digest.
func arbitraryImage(t *testing.T, repo string) (string, string) {
	t.Helper()
	url := env.cluster.Registry + "/" + repo + ":1"
	return url, pushUnder(t, url)
}

// pushUnder pushes a new random image to the tag and returns its digest.
func pushUnder(t *testing.T, url string) string {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

// rogueTaskRun is what any TaskRun author can do: report an image as
// IMAGE_URL/IMAGE_DIGEST from an inline step. It waits until Chains has
// signed it.
func rogueTaskRun(t *testing.T, ns, url, digest string) {
	t.Helper()
	tr := &pipelinev1.TaskRun{
		ObjectMeta: metav1.ObjectMeta{Name: "rogue", Namespace: ns},
		Spec: pipelinev1.TaskRunSpec{TaskSpec: &pipelinev1.TaskSpec{
			Results: []pipelinev1.TaskResult{{Name: "IMAGE_URL"}, {Name: "IMAGE_DIGEST"}},
			// Pod Security restricted, as the namespace enforces; the UID
			// comes from its range.
			Steps: []pipelinev1.Step{{Name: "claim", Image: env.cluster.Images.Busybox,
				SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
				Env:    []corev1.EnvVar{{Name: "URL", Value: url}, {Name: "DIGEST", Value: digest}},
				Script: "#!/bin/sh\nprintf %s \"$URL\" > $(results.IMAGE_URL.path)\nprintf %s \"$DIGEST\" > $(results.IMAGE_DIGEST.path)\n"}},
		}},
	}
	if _, err := env.tekton.TektonV1().TaskRuns(ns).Create(context.Background(), tr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if done := waitTaskRun(t, ns, "rogue", 3*time.Minute); !done.Status.GetCondition(apis.ConditionSucceeded).IsTrue() {
		t.Fatalf("the rogue TaskRun failed: %+v\n%s", done.Status.Conditions, describePod(ns, done.Status.PodName))
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got, err := env.tekton.TektonV1().TaskRuns(ns).Get(context.Background(), "rogue", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Annotations["chains.tekton.dev/signed"] == "true" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Chains did not sign the rogue TaskRun: %v", got.Annotations)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// noLeaks: the namespace's signing key and password appear nowhere a user
// can look — the controller's log, Events, and every run's status
// (results, conditions) and pod logs in these namespaces.
func noLeaks(t *testing.T, namespaces []string, keys ...*localcluster.KeyPair) {
	t.Helper()
	ctx := context.Background()
	var text strings.Builder
	// The controller runs in cluster, from the release: every replica's log.
	b, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "-n", localcluster.ControllerNamespace, "logs",
		"-l", "app.kubernetes.io/name=modelguard-controller", "--tail=-1", "--prefix")
	if err != nil || len(b) == 0 {
		t.Errorf("the controller's log: %v (%d bytes)", err, len(b))
	}
	text.Write(b)
	for _, ns := range namespaces {
		evs, err := env.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs.Items {
			fmt.Fprintln(&text, e.Reason, e.Message)
		}
		crs, _ := env.tekton.TektonV1beta1().CustomRuns(ns).List(ctx, metav1.ListOptions{})
		trs, _ := env.tekton.TektonV1().TaskRuns(ns).List(ctx, metav1.ListOptions{})
		prs, _ := env.tekton.TektonV1().PipelineRuns(ns).List(ctx, metav1.ListOptions{})
		for _, x := range []any{crs, trs, prs} {
			b, _ := json.Marshal(x)
			text.Write(b)
		}
		for i := range trs.Items {
			if trs.Items[i].Status.PodName != "" {
				text.WriteString(logs(t, &trs.Items[i]))
			}
		}
	}
	noKeyMaterial(t, "logs, Events, results and conditions", text.String(), keys...)
}
