package pods

import (
	"context"
	"github.com/modelguard/modelguard/pkg/attest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/deploy"
	"github.com/modelguard/modelguard/pkg/modelserver"
	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/modelguard/modelguard/test/localcluster"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// TestKServe releases a commit with the real tkn (`tkn pipeline start
// model-release … --showlog`, as the pipeline's README shows it) on a
// cluster running KServe v0.17.0's manager in RawDeployment mode: the
// deploy step applies an InferenceService (storageUri oci://…@sha256:…,
// ServingRuntime modelguard-serve from model-deploy's samples), KServe
// turns it into a Deployment, its pod webhook injects the modelcar into
// the pod, and the runtime (modelguard serve, a custom ServingRuntime)
// answers with the digest of exactly the committed files. KServe is
// removed afterwards, so the other tests deploy plain Deployments.
func TestKServe(t *testing.T) {
	ctx := context.Background()
	ks, err := env.cluster.InstallKServe(ctx)
	if err != nil {
		t.Fatalf("install KServe: %v", err)
	}
	t.Cleanup(func() {
		if err := ks.Uninstall(context.Background()); err != nil {
			t.Errorf("uninstall KServe: %v", err)
		}
	})
	central := startCentral(t)
	central.ScanUnknownAs(&acsemulator.Image{User: "65532", Components: []acsemulator.Component{{Name: "busybox", Version: "1.37.0"}}})
	pipelines, serving := namespace(t, "kserve-pipelines"), "kserve-serving"
	release02(t, pipelines, serving, central)
	// The pipeline namespace opts in to signing, as the demo's does: the
	// scan is attested, and VerifyImage checks that attestation.
	keySecret(t, pipelines, attest.SigningSecret)
	bindController(t, pipelines, attest.SigningSecretReader)
	servingRuntime(t, serving)
	gs, sha := modelRepo(t)

	out, err := tkn(t, "pipeline", "start", "model-release", "-n", pipelines, "--use-param-defaults", "--skip-optional-workspace", "--showlog",
		"-p", "git-url="+gs.RepoURL("tiny"), "-p", "git-revision="+sha,
		"-p", "image="+env.cluster.Registry+"/models/tiny-kserve:1", "-p", "base-image="+env.cluster.Images.Busybox,
		"-p", "model-path=model", "-p", "serving-namespace="+serving, "-p", "model-name=tiny",
		"-p", "pod-security=baseline", "-p", "modelguard-image="+env.modelguard,
		"-p", "max-scan-age=1h", "-p", "watch-window=10s", "-p", "watch-grace=5s",
		"-p", "watch-allow-processes=kserve-container:/usr/bin/modelguard",
		"-w", "name=source,volumeClaimTemplateFile="+filepath.Join(repoRoot(), "pipelines", "model-release", "0.2", "workspace-template.yaml"),
		"-w", "name=cosign-pub,secret=chains-public-key", "-w", "name=acs-secret,secret=modelguard-acs",
		"--task-serviceaccount", "render=model-deploy", "--task-serviceaccount", "deploy=model-deploy")
	if err != nil {
		t.Fatalf("tkn pipeline start model-release: %v\n%s\n--- kserve manager ---\n%s", err, out, ks.Manager.LogTail(30))
	}
	prs, err := env.tekton.TektonV1().PipelineRuns(pipelines).List(ctx, metav1.ListOptions{})
	if err != nil || len(prs.Items) != 1 {
		t.Fatalf("PipelineRuns: %v (%v)", prs, err)
	}
	// tkn returns when the logs end; the PipelineRun is marked done after.
	pr := waitPipelineRun(t, pipelines, prs.Items[0].Name, 2*time.Minute)
	if c := pr.Status.GetCondition(apis.ConditionSucceeded); !c.IsTrue() {
		t.Fatalf("PipelineRun: %s/%s %s\n%s\n%s", c.Status, c.Reason, c.Message, out, childLogs(t, pr))
	}
	want, err := modelserver.Load("tiny", tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	if got := prResult(pr, "served-digest"); got != want.Digest {
		t.Errorf("served-digest %q, want %s: KServe's pod does not serve the committed files", got, want.Digest)
	}
	checkGates02(t, pr)
	if v := prResult(pr, "verify-summary"); !strings.Contains(v, attest.CheckScan) {
		t.Errorf("verify-summary %q: VerifyImage did not check the signed scan", v)
	}
	image := prResult(pr, "IMAGE_URL") + "@" + prResult(pr, "IMAGE_DIGEST")
	if got := prResult(pr, "modelcar"); got != image {
		t.Errorf("modelcar %q, want the built image %s", got, image)
	}
	if got := prResult(pr, "deployed"); !strings.HasPrefix(got, "InferenceService "+serving+"/tiny") {
		t.Errorf("deployed %q: not through an InferenceService", got)
	}
	// The InferenceService names the image by digest and the runtime.
	out2, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "-n", serving, "get", "inferenceservice", "tiny",
		"-o", "jsonpath={.spec.predictor.model.storageUri} {.spec.predictor.model.runtime}")
	if err != nil || string(out2) != "oci://"+image+" modelguard-serve" {
		t.Errorf("InferenceService: %q (%v)", out2, err)
	}
	pods, err := env.kube.CoreV1().Pods(serving).List(ctx, metav1.ListOptions{LabelSelector: deploy.LabelInferenceService + "=tiny"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("predictor pods: %v", err)
	}
	if p := pods.Items[0].Spec; p.ShareProcessNamespace == nil || !*p.ShareProcessNamespace {
		t.Errorf("the predictor pod does not share its process namespace: KServe's modelcar injection did not run")
	}
}

// servingRuntime applies model-deploy's sample ServingRuntime into ns with
// the modelguard image of this run.
func servingRuntime(t *testing.T, ns string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "tasks", "model-deploy", "0.1", "samples", "servingruntime.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := strings.ReplaceAll(string(b), "registry.example.com/modelguard@sha256:<digest>", env.modelguard)
	y = strings.ReplaceAll(y, "namespace: model-serving", "namespace: "+ns)
	if out, err := env.cluster.Kubectl(context.Background(), localcluster.UserAdmin, "apply", "-f", writeFile(t, "servingruntime.yaml", []byte(y))); err != nil {
		t.Fatalf("apply ServingRuntime: %v\n%s", err, out)
	}
}
