package pods

import (
	"strings"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
)

// model-fetch in a pod, started with the real tkn as its README shows:
// the commit of a real git server's repository is fetched by SHA and its
// results name it; a commit whose weights are Git LFS pointers fails with
// the file named, results still written.
func testModelFetch(t *testing.T) {
	ns := namespace(t, "task-model-fetch")
	applyTask(t, ns, "model-fetch")
	gs, sha := modelRepo(t)

	out, err := tknStart(t, ns, "model-fetch", "-p", "url="+gs.RepoURL("tiny"), "-p", "revision="+sha,
		"-p", "modelguard-image="+env.modelguard, "-w", "name=output,emptyDir=")
	if err != nil || !strings.Contains(out, "fetched "+gs.RepoURL("tiny")+" at "+sha) {
		t.Fatalf("tkn task start model-fetch: %v\n%s", err, out)
	}

	pointer := "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 4212345678\n"
	lfs, err := gs.Commit("tiny", "main", "Move the weights to LFS", map[string]string{"model/model.safetensors": pointer}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := taskRun{name: "lfs", params: map[string]string{"url": gs.RepoURL("tiny"), "revision": lfs},
		workspaces: []pipelinev1.WorkspaceBinding{emptyDirWorkspace("output")}}.run(t, ns, "model-fetch")
	wantDone(t, tr, false, "Git LFS pointers", "model/model.safetensors")
	if !strings.Contains(result(tr, "summary"), "LFS") || result(tr, "commit") != "" {
		t.Errorf("LFS refusal results: %+v", tr.Status.Results)
	}
}
