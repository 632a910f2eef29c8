package localcluster

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/gitserver"
	"github.com/modelguard/modelguard/test/tools"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestTriggers runs Tekton Triggers as InstallTriggers does (no node:
// only the PipelineRuns' creation is looked at here; test/pods runs them)
// with the project's config/triggers, and sends GitHub and GitLab pushes
// to the sink: the valid ones create one PipelineRun each, labelled with
// the pushed commit, under the EventListener's least-privilege
// ServiceAccount; a forged signature, a wrong token and another branch
// create nothing.
func TestTriggers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, err := Start(ctx, Config{Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	tr, err := c.InstallTriggers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(c.RESTConfig(UserAdmin))
	const ns = "model-pipelines"
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	webhook := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "model-release-webhook"},
		StringData: map[string]string{"github-secret": "gh-secret", "gitlab-token": "gl-token"}}
	if _, err := kube.CoreV1().Secrets(ns).Create(ctx, webhook, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	root := tools.RepoRoot()
	if out, err := c.Kubectl(ctx, UserAdmin, "apply", "-k", filepath.Join(root, "config", "triggers")); err != nil {
		t.Fatalf("apply config/triggers: %v\n%s", err, out)
	}
	el, err := tr.RunEventListener(ctx, ns, "model-release")
	if err != nil {
		t.Fatal(err)
	}
	gs, err := gitserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer gs.Close()
	if err := gs.Create("tiny"); err != nil {
		t.Fatal(err)
	}
	first, err := gs.Commit("tiny", "main", "one", map[string]string{"model/config.json": "{}"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := gs.Commit("tiny", "dev", "two", map[string]string{"model/x": "y"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	push := gitserver.Push{Repo: "tiny", CloneURL: gs.RepoURL("tiny"), Branch: "main", Before: gitserver.ZeroSHA, After: first, Message: "one", Pusher: "alice"}
	dev := push
	dev.Branch, dev.After = "dev", other
	post := func(req *http.Request, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post(push.GitHubRequest(el.URL, "forged"))
	post(push.GitLabRequest(el.URL, "wrong"))
	post(dev.GitHubRequest(el.URL, "gh-secret"))
	post(push.GitHubRequest(el.URL, "gh-secret"))
	gl := push
	gl.After = other // any commit: the filter looks at the branch
	post(gl.GitLabRequest(el.URL, "gl-token"))

	tk := tekton.NewForConfigOrDie(c.RESTConfig(UserAdmin))
	var got map[string]int
	err = waitFor(ctx, 60*time.Second, func() (bool, string, error) {
		prs, err := tk.TektonV1().PipelineRuns(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		got = map[string]int{}
		for _, p := range prs.Items {
			got[p.Labels["modelguard.dev/git-revision"]]++
			for _, prm := range p.Spec.Params {
				if prm.Name == "git-url" && prm.Value.StringVal != gs.RepoURL("tiny") {
					t.Errorf("PipelineRun %s fetches %q", p.Name, prm.Value.StringVal)
				}
			}
		}
		return len(prs.Items) >= 2, "", nil
	})
	if err != nil {
		t.Fatalf("PipelineRuns %v: %v\nsink log:\n%s", got, err, el.LogTail(40))
	}
	time.Sleep(2 * time.Second) // let any wrongly accepted request land
	prs, err := tk.TektonV1().PipelineRuns(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(prs.Items) != 2 || got[first] != 1 || got[other] != 1 {
		t.Errorf("PipelineRuns by revision %v (%d in all); want one for %s (GitHub) and one for %s (GitLab)", got, len(prs.Items), first, other)
	}
	for _, p := range prs.Items {
		if !strings.HasPrefix(p.Name, "model-release-") || p.Spec.PipelineRef == nil || p.Spec.PipelineRef.Name != "model-release" {
			t.Errorf("PipelineRun %s: %+v", p.Name, p.Spec.PipelineRef)
		}
	}
}
