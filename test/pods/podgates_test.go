package pods

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/modelserver"
	"github.com/modelguard/modelguard/test/acsemulator"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// TestRelease02PodGates: one param (gates: pods) switches model-release
// 0.2 to the pod Tasks for clusters without the controller — the scan,
// policy checks, verify and runtime watch then run as TaskRuns, with the
// same outcome: the commit is verified, served and watched.
func TestRelease02PodGates(t *testing.T) {
	central := startCentral(t)
	central.ScanUnknownAs(&acsemulator.Image{User: "65532", Components: []acsemulator.Component{{Name: "busybox", Version: "1.37.0"}}})
	pipelines, serving := namespace(t, "podgates-pipelines"), "podgates-serving"
	release02(t, pipelines, serving, central, "RoleBinding/acs-runtime-watch")
	sampleRBAC(t, "acs-runtime-watch", map[string]string{"model-pipelines": pipelines, "model-serving": serving})
	gs, sha := modelRepo(t)

	out, err := tkn(t, "pipeline", "start", "model-release", "-n", pipelines, "--use-param-defaults", "--skip-optional-workspace", "--showlog",
		"-p", "gates=pods", "-p", "deploy-target=deployment",
		"-p", "git-url="+gs.RepoURL("tiny"), "-p", "git-revision="+sha,
		"-p", "image="+env.cluster.Registry+"/models/tiny-podgates:1", "-p", "base-image="+env.cluster.Images.Busybox,
		"-p", "model-path=model", "-p", "serving-namespace="+serving, "-p", "model-name=tiny",
		"-p", "modelguard-image="+env.modelguard,
		"-p", "watch-window=10s", "-p", "watch-grace=5s", "-p", "watch-allow-processes=server:/usr/bin/modelguard",
		"-w", "name=source,volumeClaimTemplateFile="+filepath.Join(repoRoot(), "pipelines", "model-release", "0.2", "workspace-template.yaml"),
		"-w", "name=cosign-pub,secret=chains-public-key", "-w", "name=acs-secret,secret=modelguard-acs",
		"--task-serviceaccount", "render=model-deploy", "--task-serviceaccount", "deploy=model-deploy",
		"--task-serviceaccount", "watch-pod=acs-runtime-watch")
	if err != nil {
		t.Fatalf("tkn pipeline start model-release -p gates=pods: %v\n%s", err, out)
	}
	prs, err := env.tekton.TektonV1().PipelineRuns(pipelines).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(prs.Items) != 1 {
		t.Fatalf("PipelineRuns: %v (%v)", prs, err)
	}
	// tkn returns when the logs end; the PipelineRun is marked done after.
	pr := waitPipelineRun(t, pipelines, prs.Items[0].Name, 2*time.Minute)
	if c := pr.Status.GetCondition(apis.ConditionSucceeded); !c.IsTrue() {
		t.Fatalf("PipelineRun: %s/%s %s\n%s\n%s", c.Status, c.Reason, c.Message, out, childLogs(t, pr))
	}
	// Every gate ran as its pod Task, none as a custom task.
	ran := map[string]string{}
	for _, ref := range pr.Status.ChildReferences {
		ran[ref.PipelineTaskName] = ref.Kind
	}
	for _, task := range []string{"provenance-pod", "scan-pod", "check-pod", "verify-pod", "deploy-check-pod", "watch-pod"} {
		if ran[task] != "TaskRun" {
			t.Errorf("%s ran as %q, want a TaskRun (children: %v)", task, ran[task], ran)
		}
	}
	for _, task := range []string{"provenance", "scan", "check", "verify", "deploy-check", "watch"} {
		if _, ok := ran[task]; ok {
			t.Errorf("%s ran with gates: pods", task)
		}
	}
	want, err := modelserver.Load("tiny", tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	if got := prResult(pr, "served-digest"); got != want.Digest {
		t.Errorf("served-digest %q, want %s", got, want.Digest)
	}
	for _, line := range []string{"runtime watch: PASS", "verified"} {
		if !strings.Contains(out, line) {
			t.Errorf("the log does not say %q:\n%s", line, out)
		}
	}
}
