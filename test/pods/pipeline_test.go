package pods

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/pkg/modelserver"
	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/modelguard/modelguard/test/localcluster"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// prepareModelRelease sets up what pipelines/model-release needs in a pipeline
// namespace, as its README lists, and returns the serving namespace.
func prepareModelRelease(t *testing.T, pipelines, serving string, central *acsemulator.Server) {
	t.Helper()
	ctx := context.Background()
	// A cluster admin hands the serving namespace to the pipeline
	// namespace, with the persona subjects runs may name, and the deploy
	// Task's and the watch's RoleBindings as expected.
	createHandedOver(t, serving, pipelines, map[string]string{
		guard.AllowSubjectsAnnotation(guard.DataScientist): "group:" + localcluster.GroupDataScientists,
		guard.AllowSubjectsAnnotation(guard.Operator):      "group:" + localcluster.GroupOperators,
		guard.AllowForeignAnnotation:                       "RoleBinding/modelguard-model-deploy-task,RoleBinding/modelguard-workload-reader,RoleBinding/modelguard-rollback",
	})
	acsSecretNamed(t, pipelines, "modelguard-acs", central, centralToken)
	bindACSReader(t, pipelines)
	// The watch task reads the Deployment it watches (and could scale it).
	for _, role := range []string{"modelguard-workload-reader", "modelguard-rollback"} {
		bindController(t, serving, role)
	}
	// The emulated Sensor sees what the pipeline deploys there.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := central.WatchDeployments(ctx, env.kube, acsemulator.SensorOptions{Namespace: serving}); err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"model-image-build", "model-deploy"} {
		applyTask(t, pipelines, task)
	}
	sampleRBAC(t, "model-deploy", map[string]string{"model-pipelines": pipelines, "model-serving": serving})
}

// TestModelRelease runs pipelines/model-release end to end on the node,
// the Pipeline fetched by Tekton's git resolver from the release commit:
// the tiny model from testdata is built in a pod, scanned and checked
// against the ACS emulator (a test double) by the in-cluster controller,
// the serving namespace is guarded, and the model is deployed there and
// answers with the digest of the very files in testdata.
func TestModelRelease(t *testing.T) {
	central := startCentral(t)
	// Central would pull and scan the image the pipeline builds: a
	// busybox base and three model files, nothing vulnerable.
	central.ScanUnknownAs(&acsemulator.Image{User: "65532", Components: []acsemulator.Component{{Name: "busybox", Version: "1.37.0"}}})
	pipelines, serving := namespace(t, "release-pipelines"), "release-serving"
	prepareModelRelease(t, pipelines, serving, central)
	// The namespace opts in to signing: the gates' decisions and the
	// pipeline's provenance are signed with this key.
	signing := keySecret(t, pipelines, attest.SigningSecret)
	bindController(t, pipelines, attest.SigningSecretReader)
	claim := modelVolume(t, pipelines, "models", map[string]string{"tiny": tinyModel()})
	// Chains' public key, as the deploy step's cosign-pub workspace.
	pub := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chains-public-key"}, Data: map[string][]byte{"cosign.pub": env.chains.PublicKey}}
	if _, err := env.kube.CoreV1().Secrets(pipelines).Create(context.Background(), pub, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	str := func(v string) pipelinev1.ParamValue { return *pipelinev1.NewStructuredValues(v) }
	arr := func(v ...string) pipelinev1.ParamValue {
		return pipelinev1.ParamValue{Type: pipelinev1.ParamTypeArray, ArrayVal: v}
	}
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: "release", Namespace: pipelines},
		Spec: pipelinev1.PipelineRunSpec{
			PipelineRef: gitPipelineRef("model-release"),
			Params: pipelinev1.Params{
				{Name: "image", Value: str(env.cluster.Registry + "/models/tiny-release:1")},
				{Name: "base-image", Value: str(env.cluster.Images.Busybox)},
				{Name: "model-path", Value: str("tiny")},
				{Name: "source-date-epoch", Value: str("1735689600")},
				{Name: "severity", Value: str("IMPORTANT")},
				{Name: "serving-namespace", Value: str(serving)},
				{Name: "model-name", Value: str("tiny")},
				{Name: "operator-groups", Value: arr(localcluster.GroupOperators)},
				{Name: "data-scientist-groups", Value: arr(localcluster.GroupDataScientists)},
				{Name: "watch-window", Value: str("20s")},
				{Name: "watch-grace", Value: str("5s")},
				{Name: "watch-allow-processes", Value: arr("server:/usr/bin/modelguard")},
				{Name: "source", Value: str(releaseSource)},
				{Name: "revision", Value: str(releaseRevision)},
				{Name: "public-key", Value: str(string(env.chains.PublicKey))},
				{Name: "max-scan-age", Value: str("1h")},
			},
			TaskRunSpecs: []pipelinev1.PipelineTaskRunSpec{{PipelineTaskName: "deploy", ServiceAccountName: "model-deploy"}},
			Workspaces: []pipelinev1.WorkspaceBinding{
				{Name: "model", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}},
				secretWorkspace("cosign-pub", "chains-public-key"),
			},
			Timeouts: &pipelinev1.TimeoutFields{Pipeline: &metav1.Duration{Duration: 10 * time.Minute}},
		},
	}
	start := time.Now()
	if _, err := env.tekton.TektonV1().PipelineRuns(pipelines).Create(context.Background(), pr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pr = waitPipelineRun(t, pipelines, "release", 10*time.Minute)
	t.Logf("PipelineRun create -> done: %s", time.Since(start).Round(time.Millisecond))
	if c := pr.Status.GetCondition(apis.ConditionSucceeded); !c.IsTrue() {
		t.Fatalf("PipelineRun: %s/%s %s\n%s\n--- the image's .att tag ---\n%s\n--- chains ---\n%s", c.Status, c.Reason, c.Message, childLogs(t, pr), attList(pr), chainsLog())
	}
	want, err := modelserver.Load("tiny", tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]string{}
	for _, r := range pr.Status.Results {
		results[r.Name] = r.Value.StringVal
	}
	if results["served-digest"] != want.Digest {
		t.Errorf("served-digest = %q, want %q: the deployment does not serve the files of testdata/tiny-model", results["served-digest"], want.Digest)
	}
	if results["IMAGE_DIGEST"] == "" || results["access-matrix"] == "" || results["scan-summary"] == "" {
		t.Errorf("pipeline results: %v", results)
	}
	if results["runtime-verdict"] != "pass" {
		t.Errorf("runtime-verdict = %q: the watch after the deploy did not pass\n%s", results["runtime-verdict"], childLogs(t, pr))
	}
	if !strings.Contains(results["verified"], "signature, build-provenance") {
		t.Errorf("the deploy step did not verify Chains' signature and provenance: verified = %q", results["verified"])
	}
	if !strings.Contains(results["verify-summary"], "verified: tag, signature, build-provenance, scan") {
		t.Errorf("the VerifyImage gate: %q", results["verify-summary"])
	}
	checkSigned(t, pr, results["IMAGE_URL"], results["IMAGE_DIGEST"])
	// The scan, the first gate to attest, started only once Chains'
	// provenance had verified: their writes to .att never overlapped.
	if prov, scan := customRunOf(t, pr, "provenance"), customRunOf(t, pr, "scan"); prov.Status.CompletionTime == nil ||
		scan.Status.StartTime == nil || scan.Status.StartTime.Before(prov.Status.CompletionTime) {
		t.Errorf("scan started at %v, before the provenance check ended (%v)", scan.Status.StartTime, prov.Status.CompletionTime)
	}
	checkRelease(t, pr, results["IMAGE_URL"], results["IMAGE_DIGEST"], signing)

	// The guard really ran before the deploy: the serving namespace
	// enforces the restricted Pod Security profile the pods passed.
	ns, err := env.kube.CoreV1().Namespaces().Get(context.Background(), serving, metav1.GetOptions{})
	if err != nil || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("serving namespace labels: %v (%v)", ns.Labels, err)
	}
}

// customRunOf returns the CustomRun pr ran for pipeline task task.
func customRunOf(t *testing.T, pr *pipelinev1.PipelineRun, task string) *v1beta1.CustomRun {
	t.Helper()
	for _, ref := range pr.Status.ChildReferences {
		if ref.PipelineTaskName == task && ref.Kind == "CustomRun" {
			cr, err := env.tekton.TektonV1beta1().CustomRuns(pr.Namespace).Get(context.Background(), ref.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return cr
		}
	}
	t.Fatalf("%s ran no CustomRun for %s", pr.Name, task)
	return nil
}

// checkSigned: Chains signed the build TaskRun, pushed .sig and .att next
// to the image, and both verify with Chains' key through cosign's own
// verification code; the attestation is SLSA v1 provenance of this image.
func checkSigned(t *testing.T, pr *pipelinev1.PipelineRun, url, digest string) {
	t.Helper()
	tr, err := buildTaskRun(pr)
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Annotations["chains.tekton.dev/signed"]; got != "true" {
		t.Errorf("build TaskRun chains.tekton.dev/signed = %q, want true", got)
	}
	d, err := imageDigest(url, digest)
	if err != nil {
		t.Fatal(err)
	}
	for _, tagOf := range []func(name.Reference, ...ociremote.Option) (name.Tag, error){ociremote.SignatureTag, ociremote.AttestationTag} {
		tag, err := tagOf(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := remote.Head(tag); err != nil {
			t.Errorf("%s is not in the registry: %v", tag, err)
		}
	}
	ref := d.String()
	opts := attest.VerifyOptions{PublicKey: env.chains.PublicKey}
	if n, err := attest.Signatures(context.Background(), ref, opts); err != nil || n < 1 {
		t.Errorf("signature of %s: %d, %v", ref, n, err)
	}
	atts, err := attest.Attestations(context.Background(), ref, opts)
	if err != nil {
		t.Fatalf("attestations of %s: %v", ref, err)
	}
	found := false
	for _, a := range atts {
		found = found || a.PredicateType == "https://slsa.dev/provenance/v1" && slices.Contains(a.Subjects, digest)
	}
	if !found {
		t.Errorf("no SLSA v1 provenance about %s among %+v", digest, atts)
	}
}

// createHandedOver creates namespace ns as a cluster admin hands it to the
// runs of namespace from: the NamespaceGuard opt-in bound to from's UID, the
// dev profile, and the admin's limits (annotations). It is deleted after
// the test.
func createHandedOver(t *testing.T, ns, from string, limits map[string]string) {
	t.Helper()
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Annotations: limits,
		Labels: map[string]string{guard.NamespaceProfileLabel: string(guard.Dev)}}}
	if _, err := env.kube.CoreV1().Namespaces().Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	handOver(t, ns, from)
}

// bindACSReader lets the controller read the modelguard-acs Secret in ns,
// as a namespace owner does (config/220-acs-secret-reader.yaml).
func bindACSReader(t *testing.T, ns string) { bindController(t, ns, "modelguard-acs-secret-reader") }

// bindController binds one of config/'s opt-in ClusterRoles to the
// controller in ns.
func bindController(t *testing.T, ns, role string) {
	t.Helper()
	if _, err := env.kube.RbacV1().RoleBindings(ns).Create(context.Background(), localcluster.ControllerBinding(ns, role), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitPipelineRun(t *testing.T, ns, name string, timeout time.Duration) *pipelinev1.PipelineRun {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pr, err := env.tekton.TektonV1().PipelineRuns(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := pr.Status.GetCondition(apis.ConditionSucceeded); c != nil && !c.IsUnknown() {
			return pr
		}
		if time.Now().After(deadline) {
			t.Fatalf("PipelineRun %s/%s not done after %s: %+v\n%s", ns, name, timeout, pr.Status.Conditions, childLogs(t, pr))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// childLogs collects what the PipelineRun's children say, for a failure.
func childLogs(t *testing.T, pr *pipelinev1.PipelineRun) string {
	out := ""
	for _, c := range pr.Status.ChildReferences {
		switch c.Kind {
		case "TaskRun":
			tr, err := env.tekton.TektonV1().TaskRuns(pr.Namespace).Get(context.Background(), c.Name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			cond := tr.Status.GetCondition(apis.ConditionSucceeded)
			out += "--- TaskRun " + c.PipelineTaskName + ": " + string(cond.Status) + " " + cond.Reason + " " + cond.Message + "\n"
			if tr.Status.PodName != "" {
				b, _ := env.cluster.Kubectl(context.Background(), localcluster.UserAdmin, "-n", pr.Namespace, "logs", tr.Status.PodName, "--all-containers")
				out += string(b)
			}
		case "CustomRun":
			cr, err := env.tekton.TektonV1beta1().CustomRuns(pr.Namespace).Get(context.Background(), c.Name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			cond := cr.Status.GetCondition(apis.ConditionSucceeded)
			out += "--- CustomRun " + c.PipelineTaskName + ": " + string(cond.Status) + " " + cond.Reason + " " + cond.Message + "\n"
		}
	}
	return out
}

// chainsLog is the Chains controller's last log lines, its errors first,
// for a failure that may be Chains' (a missing signature or provenance).
func chainsLog() string {
	out, _ := env.cluster.Kubectl(context.Background(), localcluster.UserAdmin, "-n", localcluster.ChainsNamespace,
		"logs", "-l", "app=tekton-chains-controller", "--tail=400")
	var errs, rest []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, `"level":"error"`) {
			errs = append(errs, l)
		}
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) > 20 {
		rest = lines[len(lines)-20:]
	}
	return strings.Join(append(errs, rest...), "\n")
}

// attList says what the built image's .att tag lists (each layer's
// predicate type), to tell a lost attestation from one that does not
// verify when a run fails.
func attList(pr *pipelinev1.PipelineRun) string {
	tr, err := buildTaskRun(pr)
	if err != nil {
		return err.Error()
	}
	d, err := imageDigest(result(tr, "IMAGE_URL"), result(tr, "IMAGE_DIGEST"))
	if err != nil {
		return err.Error()
	}
	tag, err := ociremote.AttestationTag(d)
	if err != nil {
		return err.Error()
	}
	img, err := remote.Image(tag)
	if err != nil {
		return err.Error()
	}
	m, err := img.Manifest()
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest.String()+" "+l.Annotations["predicateType"])
	}
	return strings.Join(out, "\n")
}

// buildTaskRun is the TaskRun of pr's build task.
func buildTaskRun(pr *pipelinev1.PipelineRun) (*pipelinev1.TaskRun, error) {
	for _, c := range pr.Status.ChildReferences {
		if c.PipelineTaskName == "build" {
			return env.tekton.TektonV1().TaskRuns(pr.Namespace).Get(context.Background(), c.Name, metav1.GetOptions{})
		}
	}
	return nil, fmt.Errorf("PipelineRun %s has no build TaskRun", pr.Name)
}

// imageDigest is the build's IMAGE_URL (a tag on the local, plain-HTTP
// registry) pinned to its IMAGE_DIGEST.
func imageDigest(url, digest string) (name.Digest, error) {
	ref, err := name.NewTag(url, name.Insecure)
	if err != nil {
		return name.Digest{}, fmt.Errorf("IMAGE_URL %q: %v", url, err)
	}
	return ref.Context().Digest(digest), nil
}
