package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
)

// "Prod changes go through pipelines" holds only for pipelines the admin
// trusts: in prod no inline spec runs, and a PipelineRun names a pipeline
// by a bundle digest or a git commit from the admin's lists.
func TestAdmissionProdPipelines(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	bundle := "registry.example.com/pipelines/model-release@" + digest
	commit := strings.Repeat("0123456789", 4)
	repo := "https://git.example.com/ml/pipelines"
	ns := guardedByAdmin(t, "prod", guard.Prod, map[string]string{
		guard.TrustedBundlesAnnotation: bundle,
		guard.TrustedGitAnnotation:     repo + "@" + commit,
	})
	run := func(ref string) string {
		return "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {generateName: release-}\nspec: {" + ref + "}"
	}
	bundles := func(params string) string {
		return run("pipelineRef: {resolver: bundles, params: [" + params + "]}")
	}
	git := func(url, revision string) string {
		return run(fmt.Sprintf("pipelineRef: {resolver: git, params: [{name: url, value: %q}, {name: revision, value: %q}, {name: pathInRepo, value: release.yaml}]}", url, revision))
	}
	inline := []string{"inline pipelineSpec", guard.PolicyProdPipelines}
	untrusted := []string{"a pipeline a cluster admin does not trust in prod", guard.TrustedBundlesAnnotation, guard.TrustedGitAnnotation}
	for _, a := range []admission{
		{"inline pipelineSpec", localcluster.UserBob, ns, pipelineRunGVR, run("pipelineSpec: {tasks: [{name: t, taskSpec: {steps: [{name: s, image: i, script: id}]}}]}"), inline},
		{"inline pipelineSpec, by an operator", localcluster.UserCarol, ns, pipelineRunGVR, run("pipelineSpec: {tasks: [{name: t, taskRef: {name: x}}]}"), inline},
		{"a Pipeline of the namespace", localcluster.UserBob, ns, pipelineRunGVR, run("pipelineRef: {name: release}"), untrusted},
		{"a bundle by tag", localcluster.UserBob, ns, pipelineRunGVR, bundles(`{name: bundle, value: "registry.example.com/pipelines/model-release:1.0"}, {name: name, value: release}, {name: kind, value: pipeline}`), untrusted},
		{"another bundle by digest", localcluster.UserBob, ns, pipelineRunGVR, bundles(`{name: bundle, value: "registry.example.com/pipelines/other@` + digest + `"}, {name: name, value: release}`), untrusted},
		{"the trusted bundle named twice", localcluster.UserBob, ns, pipelineRunGVR, bundles(`{name: bundle, value: "` + bundle + `"}, {name: bundle, value: "evil.example.com/p@` + digest + `"}`), untrusted},
		{"a branch of the trusted repository", localcluster.UserBob, ns, pipelineRunGVR, git(repo, "main"), untrusted},
		{"the trusted commit of another repository", localcluster.UserBob, ns, pipelineRunGVR, git("https://git.example.com/evil/pipelines", commit), untrusted},
		{"the trusted bundle", localcluster.UserBob, ns, pipelineRunGVR, bundles(`{name: bundle, value: "` + bundle + `"}, {name: name, value: model-release}, {name: kind, value: pipeline}`), nil},
		{"the trusted commit", localcluster.UserBob, ns, pipelineRunGVR, git(repo, commit), nil},
		{"inline pipelineSpec, by a cluster admin", localcluster.UserAdmin, ns, pipelineRunGVR, run("pipelineSpec: {tasks: [{name: t, taskRef: {name: x}}]}"), nil},
	} {
		a.try(t)
	}
}
