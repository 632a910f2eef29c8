package pods

import (
	"context"
	"github.com/modelguard/modelguard/pkg/attest"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/modelserver"
	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/modelguard/modelguard/test/gitserver"
	"github.com/modelguard/modelguard/test/localcluster"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/yaml"
)

const (
	githubSecret = "push-test-github-secret-not-a-secret"
	gitlabToken  = "push-test-gitlab-token-not-a-secret"
)

// TestGitPush is config/triggers for real: Tekton Triggers' controller,
// EventListener sink and core interceptors (built from the module, TLS
// between sink and interceptors as in a cluster) receive real-shaped
// GitHub and GitLab push webhooks for commits on a real git server; each
// valid push starts model-release 0.2 for exactly the pushed commit and it
// succeeds, serving the files of that commit. A forged signature, a wrong
// token and a push to another branch create nothing.
func TestGitPush(t *testing.T) {
	tr := installTriggers(t)
	central := startCentral(t)
	central.ScanUnknownAs(&acsemulator.Image{User: "65532", Components: []acsemulator.Component{{Name: "busybox", Version: "1.37.0"}}})
	pipelines, serving := namespace(t, "push-pipelines"), "push-serving"
	release02(t, pipelines, serving, central)
	gs, first := modelRepo(t)
	ctx := context.Background()

	webhook := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "model-release-webhook"},
		StringData: map[string]string{"github-secret": githubSecret, "gitlab-token": gitlabToken}}
	if _, err := env.kube.CoreV1().Secrets(pipelines).Create(ctx, webhook, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	applyTriggersConfig(t, pipelines, map[string]string{
		"image":             env.cluster.Registry + "/models/tiny-push:1",
		"base-image":        env.cluster.Images.Busybox,
		"model-path":        "model",
		"serving-namespace": serving,
		"model-name":        "tiny",
		"modelguard-image":  env.modelguard,
		"watch-window":      "10s",
		"watch-grace":       "5s",
	})
	el, err := tr.RunEventListener(ctx, pipelines, "model-release")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = el.Kill() })

	push := gitserver.Push{Repo: "tiny", CloneURL: gs.RepoURL("tiny"), Branch: "main", Before: gitserver.ZeroSHA, After: first,
		Message: "Add the tiny model", Pusher: "alice"}
	// What must create nothing: sent first, so that by the time the valid
	// push's PipelineRun exists the sink has long handled them.
	forged := send(t, func() (*http.Request, error) { return push.GitHubRequest(el.URL, "not-the-secret") })
	wrongToken := send(t, func() (*http.Request, error) { return push.GitLabRequest(el.URL, "not-the-token") })
	other, err := gs.Commit("tiny", "experiment", "Try something", map[string]string{"model/notes.txt": "wip\n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	branch := push
	branch.Branch, branch.After, branch.Before = "experiment", other, first
	otherBranch := send(t, func() (*http.Request, error) { return branch.GitHubRequest(el.URL, githubSecret) })
	t.Logf("sink answered forged=%d wrong-token=%d other-branch=%d", forged, wrongToken, otherBranch)

	want, err := modelserver.Load("tiny", tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	send(t, func() (*http.Request, error) { return push.GitHubRequest(el.URL, githubSecret) })
	pr := waitPushRun(t, pipelines, first)
	checkPushRelease(t, pr, first, want.Digest)

	// A second commit on main, pushed through GitLab with its token.
	second, err := gs.Commit("tiny", "main", "Tune the tokenizer", map[string]string{"model/tokenizer.json": `{"version":"2"}`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gl := push
	gl.Before, gl.After, gl.Message, gl.Pusher = first, second, "Tune the tokenizer", "bob"
	send(t, func() (*http.Request, error) { return gl.GitLabRequest(el.URL, gitlabToken) })
	pr2 := waitPushRun(t, pipelines, second)
	checkPushRelease(t, pr2, second, "")
	if served := prResult(pr2, "served-digest"); served == want.Digest || served == "" {
		t.Errorf("the second release serves %q, the first commit's files or nothing", served)
	}

	// Exactly two PipelineRuns: one per valid push, none for the rest.
	time.Sleep(2 * time.Second)
	prs, err := env.tekton.TektonV1().PipelineRuns(pipelines).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var revs []string
	for _, p := range prs.Items {
		revs = append(revs, p.Labels["modelguard.dev/git-revision"])
	}
	if len(prs.Items) != 2 {
		t.Errorf("PipelineRuns for revisions %v; want only %s (GitHub) and %s (GitLab): a forged, wrong-token or other-branch push started one", revs, first, second)
	}
}

// applyTriggersConfig applies config/triggers (kustomize) into ns with
// the settings binding's values replaced.
func applyTriggersConfig(t *testing.T, ns string, settings map[string]string) {
	t.Helper()
	ctx := context.Background()
	out, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "kustomize", filepath.Join(repoRoot(), "config", "triggers"))
	if err != nil {
		t.Fatalf("kustomize config/triggers: %v\n%s", err, out)
	}
	var docs []string
	for _, d := range strings.Split(string(out), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		if u.GetNamespace() != "" {
			u.SetNamespace(ns)
		}
		if subjects, ok, _ := unstructured.NestedSlice(u.Object, "subjects"); ok {
			for _, s := range subjects {
				s.(map[string]any)["namespace"] = ns
			}
			_ = unstructured.SetNestedSlice(u.Object, subjects, "subjects")
		}
		if u.GetKind() == "TriggerBinding" && u.GetName() == "model-release-settings" {
			params, _, _ := unstructured.NestedSlice(u.Object, "spec", "params")
			for _, p := range params {
				m := p.(map[string]any)
				if v, ok := settings[m["name"].(string)]; ok {
					m["value"] = v
				}
			}
			_ = unstructured.SetNestedSlice(u.Object, params, "spec", "params")
		}
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	file := writeFile(t, "triggers.yaml", []byte(strings.Join(docs, "---\n")))
	if out, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "apply", "-f", file); err != nil {
		t.Fatalf("apply config/triggers: %v\n%s", err, out)
	}
}

// send posts a webhook request and returns the status code.
func send(t *testing.T, build func() (*http.Request, error)) int {
	t.Helper()
	req, err := build()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitPushRun waits for the PipelineRun the push of sha started, and for
// it to finish.
func waitPushRun(t *testing.T, ns, sha string) *pipelinev1.PipelineRun {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		prs, err := env.tekton.TektonV1().PipelineRuns(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "modelguard.dev/git-revision=" + sha})
		if err != nil {
			t.Fatal(err)
		}
		if len(prs.Items) == 1 {
			return waitPipelineRun(t, ns, prs.Items[0].Name, 10*time.Minute)
		}
		if len(prs.Items) > 1 {
			t.Fatalf("%d PipelineRuns for one push of %s", len(prs.Items), sha)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no PipelineRun for %s within 60s; sink log:\n%s", sha, env.cluster.Process("el-"+ns+"-model-release").LogTail(30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkPushRelease: the run succeeded, for that commit, and (if given) serves
// the files of want.
func checkPushRelease(t *testing.T, pr *pipelinev1.PipelineRun, sha, want string) {
	t.Helper()
	if c := pr.Status.GetCondition(apis.ConditionSucceeded); !c.IsTrue() {
		t.Fatalf("PipelineRun %s: %s/%s %s\n%s", pr.Name, c.Status, c.Reason, c.Message, childLogs(t, pr))
	}
	if got := prResult(pr, "commit"); got != sha {
		t.Errorf("released commit %q, want the pushed %s", got, sha)
	}
	if want != "" && prResult(pr, "served-digest") != want {
		t.Errorf("served-digest %q, want %s (the files of the pushed commit)", prResult(pr, "served-digest"), want)
	}
	checkGates02(t, pr)
	t.Logf("%s: %s", pr.Name, prResult(pr, "deployed"))
}

// checkGates02: model-release 0.2 verified the image before the deploy
// (Chains' signature and build provenance for the fetched commit) and
// watched what it deployed.
func checkGates02(t *testing.T, pr *pipelinev1.PipelineRun) {
	t.Helper()
	if v := prResult(pr, "verify-summary"); !strings.Contains(v, "verified: ") || !strings.Contains(v, attest.CheckBuild) {
		t.Errorf("verify-summary %q: VerifyImage did not verify the build provenance", v)
	}
	if v := prResult(pr, "runtime-verdict"); v != "pass" {
		t.Errorf("runtime-verdict %q (%s), want pass", v, prResult(pr, "runtime-summary"))
	}
}

func prResult(pr *pipelinev1.PipelineRun, name string) string {
	for _, r := range pr.Status.Results {
		if r.Name == name {
			return r.Value.StringVal
		}
	}
	return ""
}
