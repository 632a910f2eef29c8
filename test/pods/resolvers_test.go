package pods

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/test/localcluster"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
)

// gitRepo is this repository as the git server serves it, and the commit
// the tests pin: HEAD plus the release commit a maintainer makes, which
// writes the release's Tasks and Pipelines (step images resolved to the
// released CLI) into tasks/ and pipelines/.
var gitRepo struct{ url, commit string }

// serveRepo makes the release commit in a clone of this checkout and
// serves it with `git http-backend` on the node's bridge.
func (e *environment) serveRepo(ctx context.Context) error {
	work := filepath.Join(e.cluster.Dir, "git", "work")
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
			"GIT_AUTHOR_NAME=release", "GIT_AUTHOR_EMAIL=release@modelguard.dev",
			"GIT_COMMITTER_NAME=release", "GIT_COMMITTER_EMAIL=release@modelguard.dev")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := git("clone", "--quiet", "--no-hardlinks", repoRoot(), work); err != nil {
		return err
	}
	for dir := range e.release.Bundles {
		name := filepath.Base(filepath.Dir(dir))
		rel := filepath.Join(dir, name+".yaml")
		data, err := os.ReadFile(e.release.file(rel))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(work, dir), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(work, rel), data, 0o644); err != nil {
			return err
		}
	}
	if err := git("-C", work, "add", "tasks", "pipelines"); err != nil {
		return err
	}
	if err := git("-C", work, "commit", "--quiet", "--allow-empty", "-m", "release "+e.release.Version); err != nil {
		return err
	}
	root := filepath.Join(e.cluster.Dir, "git", "served")
	sha, err := localcluster.PublishCommit(ctx, work, "HEAD", root, "modelguard")
	if err != nil {
		return err
	}
	srv, err := e.cluster.ServeGit(root)
	if err != nil {
		return err
	}
	e.git = srv
	gitRepo.url, gitRepo.commit = srv.URL+"/modelguard.git", sha
	return nil
}

// gitPipelineRef is pipelines/<name>/0.1 fetched by Tekton's git resolver
// from the git server, pinned to the release commit.
func gitPipelineRef(name string) *pipelinev1.PipelineRef {
	return &pipelinev1.PipelineRef{ResolverRef: pipelinev1.ResolverRef{Resolver: "git", Params: pipelinev1.Params{
		{Name: "url", Value: *pipelinev1.NewStructuredValues(gitRepo.url)},
		{Name: "revision", Value: *pipelinev1.NewStructuredValues(gitRepo.commit)},
		{Name: "pathInRepo", Value: *pipelinev1.NewStructuredValues("pipelines/" + name + "/0.1/" + name + ".yaml")},
	}}}
}

// TestBundlesResolver runs acs-image-scan fetched from the release's
// bundle by Tekton's bundles resolver, nothing applied to the namespace:
// the bundle's Task defaults its step to the released CLI, and it gates.
func TestBundlesResolver(t *testing.T) {
	central := startCentral(t)
	ns := namespace(t, "bundles-resolver")
	ws := []pipelinev1.WorkspaceBinding{secretWorkspace("acs-secret", acsSecret(t, ns, central, centralToken))}
	tr := taskRun{name: "by-bundle", bundle: true, params: map[string]string{"image": cleanImage}, workspaces: ws}.run(t, ns, "acs-image-scan")
	wantDone(t, tr, true, "gate: PASS")
	if tr.Status.Provenance == nil || tr.Status.Provenance.RefSource == nil ||
		!strings.HasPrefix(tr.Status.Provenance.RefSource.URI, strings.Split(env.release.Bundles["tasks/acs-image-scan/0.1"], ":0.1@")[0]) {
		t.Errorf("provenance of the Task: %+v, want the release's bundle", tr.Status.Provenance)
	}
	if img := tr.Status.TaskSpec.Steps[0].Image; img != env.modelguard {
		t.Errorf("step image %q, want the released CLI %s", img, env.modelguard)
	}
}
