package attest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tektoncd/chains/pkg/chains/formats"
	"github.com/tektoncd/chains/pkg/chains/objects"
	chainsconfig "github.com/tektoncd/chains/pkg/config"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

const (
	testRepo     = "https://github.com/acme/models"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
)

// release is one image as the model-release pipeline leaves it: built by
// a TaskRun Chains signed, gated by CustomRuns, with the pipeline's
// provenance and a scan by the namespace's key.
type release struct {
	image      string // repo:tag@sha256:...
	pr         *pipelinev1.PipelineRun
	taskRuns   []*pipelinev1.TaskRun
	customRuns []*v1beta1.CustomRun
}

func succeeded(status corev1.ConditionStatus, reason string) duckv1.Status {
	return duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: status, Reason: reason}}}
}

// newRelease pushes an image to tag and describes the runs that made it.
func newRelease(t *testing.T, host, tag, ns string, checkStatus corev1.ConditionStatus) release {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(host + "/models/" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	dig, _ := img.Digest()
	now := metav1.NewTime(time.Now().Add(-time.Minute))
	str := func(v string) pipelinev1.ResultValue { return *pipelinev1.NewStructuredValues(v) }
	tr := &pipelinev1.TaskRun{
		ObjectMeta: metav1.ObjectMeta{Name: tag + "-build", Namespace: ns, UID: types.UID("uid-" + tag + "-build"),
			Labels: map[string]string{"tekton.dev/pipelineTask": "build"}},
		Spec: pipelinev1.TaskRunSpec{TaskRef: &pipelinev1.TaskRef{Name: "model-image-build", Kind: "Task"},
			Params: pipelinev1.Params{{Name: "image", Value: *pipelinev1.NewStructuredValues(ref.String())}}},
		Status: pipelinev1.TaskRunStatus{Status: succeeded(corev1.ConditionTrue, "Succeeded"),
			TaskRunStatusFields: pipelinev1.TaskRunStatusFields{StartTime: &now, CompletionTime: &now, Results: []pipelinev1.TaskRunResult{
				{Name: "IMAGE_URL", Value: str(ref.String())},
				{Name: "IMAGE_DIGEST", Value: str(dig.String())},
				{Name: "CHAINS-GIT_URL", Value: str(testRepo)},
				{Name: "CHAINS-GIT_COMMIT", Value: str(testRevision)},
			}}},
	}
	custom := func(task, kind string, status corev1.ConditionStatus) *v1beta1.CustomRun {
		return &v1beta1.CustomRun{
			ObjectMeta: metav1.ObjectMeta{Name: tag + "-" + task, Namespace: ns, UID: types.UID("uid-" + tag + "-" + task)},
			Spec: v1beta1.CustomRunSpec{CustomRef: &v1beta1.TaskRef{APIVersion: "modelguard.dev/v1alpha1", Kind: v1beta1.TaskKind(kind)},
				Params: v1beta1.Params{{Name: "image", Value: *v1beta1.NewStructuredValues(ref.Context().Name() + "@" + dig.String())}}},
			Status: v1beta1.CustomRunStatus{Status: succeeded(status, map[corev1.ConditionStatus]string{corev1.ConditionTrue: "Succeeded", corev1.ConditionFalse: "PolicyFailsBuild"}[status])},
		}
	}
	crs := []*v1beta1.CustomRun{custom("scan", "ImageScan", corev1.ConditionTrue), custom("check", "ImageCheck", checkStatus)}
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: tag, Namespace: ns, UID: types.UID("uid-" + tag)},
		Spec:       pipelinev1.PipelineRunSpec{PipelineRef: &pipelinev1.PipelineRef{Name: "model-release"}},
		Status: pipelinev1.PipelineRunStatus{Status: succeeded(checkStatus, "Done"), PipelineRunStatusFields: pipelinev1.PipelineRunStatusFields{
			StartTime: &now, CompletionTime: &now,
			PipelineSpec: &pipelinev1.PipelineSpec{Tasks: []pipelinev1.PipelineTask{{Name: "build"}, {Name: "scan"}, {Name: "check"}}},
			ChildReferences: []pipelinev1.ChildStatusReference{
				{TypeMeta: runtimeKind("TaskRun"), Name: tr.Name, PipelineTaskName: "build"},
				{TypeMeta: runtimeKind("CustomRun"), Name: crs[0].Name, PipelineTaskName: "scan"},
				{TypeMeta: runtimeKind("CustomRun"), Name: crs[1].Name, PipelineTaskName: "check"},
			}}},
	}
	return release{image: ref.String() + "@" + dig.String(), pr: pr, taskRuns: []*pipelinev1.TaskRun{tr}, customRuns: crs}
}

func runtimeKind(k string) runtime.TypeMeta { return runtime.TypeMeta{Kind: k} }

// chainsProvenance is what Chains writes for the build TaskRun: made here
// with Chains' own slsa/v2alpha4 formatter.
func chainsProvenance(t *testing.T, tr *pipelinev1.TaskRun) json.RawMessage {
	t.Helper()
	p, err := formats.GetPayloader(formats.PayloadTypeSlsav2alpha4, chainsconfig.Config{
		Builder:         chainsconfig.BuilderConfig{ID: "https://tekton.dev/chains/v2"},
		BuildDefinition: chainsconfig.BuildDefinitionConfig{BuildType: "https://tekton.dev/chains/v2/slsa"},
	})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := p.CreatePayload(context.Background(), objects.NewTaskRunObjectV1(tr))
	if err != nil {
		t.Fatal(err)
	}
	b, err := StatementJSON(payload)
	if err != nil {
		t.Fatal(err)
	}
	var st Statement
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.Predicate
}

func (r release) publish(t *testing.T, chains, ns *Signer, scanned time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := chains.Sign(ctx, r.image, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chains.Attest(ctx, r.image, PredicateSLSA1, chainsProvenance(t, r.taskRuns[0]), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if r.pr != nil {
		stmt, images, err := PipelineProvenance(ctx, r.pr, r.taskRuns, r.customRuns)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.AttestStatement(ctx, stmt, images, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	scan := VulnPredicate(Scan{ScannerURI: "https://stackrox.io", ScannerVersion: "4.7", Started: scanned, Finished: scanned,
		Result: ScanResult{Verdict: "pass", Summary: "no CVE at or above CRITICAL"}})
	if _, err := ns.Attest(ctx, r.image, PredicateVuln, scan, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyImage(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t)
	chainsKeys, nsKeys, otherKeys := generate(t), generate(t), generate(t)
	chains, ns := chainsKeys.signer(t), nsKeys.signer(t)

	good := newRelease(t, host, "granite:1", "ml", corev1.ConditionTrue)
	good.publish(t, chains, ns, time.Now())
	policy := func(image string) ImagePolicy {
		return ImagePolicy{Image: image, Key: chainsKeys.public, AttestorKey: nsKeys.public,
			BuilderID: "https://tekton.dev/chains/v2", BuildTask: "model-image-build",
			SourceRepository: testRepo + ".git", SourceRevision: testRevision,
			Namespace: "ml", RequiredGates: []string{"scan", "ImageCheck"}, MaxScanAge: 24 * time.Hour}
	}
	rep, err := VerifyImage(ctx, policy(good.image))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass || len(rep.Checks) != 5 {
		t.Fatalf("a release that followed the pipeline: %+v", rep)
	}
	if res := rep.Results().Map(); res["verified"] != "true" || res["scan"] != "pass" || res["tag"] != "pass" {
		t.Errorf("results: %v", res)
	}

	// A TaskRun outside any pipeline: Chains signs and attests whatever it
	// emits, so the signature and build provenance verify; no pipeline
	// provenance does.
	rogue := newRelease(t, host, "rogue:1", "ml", corev1.ConditionTrue)
	rogue.pr = nil
	rogue.publish(t, chains, ns, time.Now())

	// The same image digest under a pipeline whose build was another
	// TaskRun: the provenance does not vouch for this build.
	stray := newRelease(t, host, "stray:1", "ml", corev1.ConditionTrue)
	stray.publish(t, chains, ns, time.Now())
	other := newRelease(t, host, "other:1", "ml", corev1.ConditionTrue)
	strayURL, strayDigest, _ := strings.Cut(stray.image, "@")
	other.taskRuns[0].Status.Results[0].Value = *pipelinev1.NewStructuredValues(strayURL)
	other.taskRuns[0].Status.Results[1].Value = *pipelinev1.NewStructuredValues(strayDigest)
	stmt, images, err := PipelineProvenance(ctx, other.pr, other.taskRuns, other.customRuns)
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 || !strings.HasSuffix(images[0], strayDigest) {
		t.Fatalf("pipeline provenance subjects: %v", images)
	}
	if err := ns.AttestStatement(ctx, stmt, images, WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	failed := newRelease(t, host, "failed:1", "ml", corev1.ConditionFalse)
	failed.publish(t, chains, ns, time.Now())
	old := newRelease(t, host, "old:1", "ml", corev1.ConditionTrue)
	old.publish(t, chains, ns, time.Now().Add(-48*time.Hour))
	unsigned := newRelease(t, host, "unsigned:1", "ml", corev1.ConditionTrue)

	// Re-push another image under the good release's tag.
	moved := newRelease(t, host, "moved:1", "ml", corev1.ConditionTrue)
	moved.publish(t, chains, ns, time.Now())
	newRelease(t, host, "moved:1", "ml", corev1.ConditionTrue)

	cases := []struct {
		name   string
		policy ImagePolicy
		reason string
	}{
		{"image re-pushed under the tag", policy(moved.image), ReasonTagMoved},
		{"unsigned", policy(unsigned.image), ReasonNotSigned},
		{"signed by another key", func() ImagePolicy { p := policy(good.image); p.Key = otherKeys.public; return p }(), ReasonWrongKey},
		{"a TaskRun outside the pipeline", policy(rogue.image), ReasonNoPipelineProvenance},
		{"a pipeline that did not build it", policy(stray.image), ReasonNotFromPipeline},
		{"provenance naming another repository", func() ImagePolicy {
			p := policy(good.image)
			p.SourceRepository = "https://github.com/evil/models"
			return p
		}(), ReasonWrongSource},
		{"another revision", func() ImagePolicy { p := policy(good.image); p.SourceRevision = strings.Repeat("f", 40); return p }(), ReasonWrongSource},
		{"built by another Task", func() ImagePolicy { p := policy(good.image); p.BuildTask = "buildah"; return p }(), ReasonWrongTask},
		{"another builder", func() ImagePolicy { p := policy(good.image); p.BuilderID = "https://example.com/ci"; return p }(), ReasonWrongBuilder},
		{"pipeline in another namespace", func() ImagePolicy { p := policy(good.image); p.Namespace = "prod"; return p }(), ReasonWrongNamespace},
		{"a gate that never ran", func() ImagePolicy {
			p := policy(good.image)
			p.RequiredGates = append(p.RequiredGates, "DeploymentCheck")
			return p
		}(), ReasonGateMissing},
		{"a gate that failed", policy(failed.image), ReasonGateFailed},
		{"scan older than allowed", policy(old.image), ReasonScanTooOld},
		{"no scan by the attestor", func() ImagePolicy {
			p := policy(good.image)
			p.AttestorKey = chainsKeys.public
			p.RequiredGates = nil
			p.Namespace = ""
			return p
		}(), ReasonNoScan},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := VerifyImage(ctx, c.policy)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Pass || rep.Reason != c.reason {
				t.Errorf("pass=%v reason=%q, want %q: %s", rep.Pass, rep.Reason, c.reason, rep.Message)
			}
			if got := rep.Results().Map()["reason"]; got != c.reason {
				t.Errorf("reason result %q", got)
			}
		})
	}

	// Only the key is required; a policy of just the key checks the signature.
	rep, err = VerifyImage(ctx, ImagePolicy{Image: rogue.image, Key: chainsKeys.public})
	if err != nil || !rep.Pass || len(rep.Checks) != 2 {
		t.Errorf("signature-only policy: %+v, %v", rep, err)
	}
	for _, bad := range []ImagePolicy{{Image: good.image}, {Image: host + "/models/granite:1", Key: chainsKeys.public}} {
		if _, err := VerifyImage(ctx, bad); err == nil {
			t.Errorf("VerifyImage(%+v) ran", bad)
		}
	}
}
