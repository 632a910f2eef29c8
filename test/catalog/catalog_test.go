package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// repoRoot is two directories above this file.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); !ok || err != nil {
		t.Fatalf("no repo root (go.mod) two levels above %q: %v", file, err)
	}
	return filepath.Clean(root)
}

// TestCatalog lints the checkout's tasks/ and pipelines/.
func TestCatalog(t *testing.T) {
	for _, err := range Lint(repoRoot(t), Source) {
		t.Error(err)
	}
}

// TestSamples: every samples/*.yaml document has apiVersion and kind, and
// the PipelineRuns and TaskRuns among them pass Tekton's validation.
func TestSamples(t *testing.T) {
	root := repoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "*", "*", "*", "samples", "*.yaml"))
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range Docs(data) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(d, &tm); err != nil || tm.Kind == "" || tm.APIVersion == "" {
				t.Errorf("%s: document %d: no apiVersion/kind (%v)", rel, i, err)
				continue
			}
			obj := map[string]Resource{"tekton.dev/v1 PipelineRun": &v1.PipelineRun{}, "tekton.dev/v1 TaskRun": &v1.TaskRun{}}[tm.APIVersion+" "+tm.Kind]
			if obj == nil {
				continue
			}
			if err := yaml.UnmarshalStrict(d, obj); err != nil {
				t.Errorf("%s: document %d (%s): %v", rel, i, tm.Kind, err)
			}
			for _, err := range Validate(obj, fmt.Sprintf("%s: document %d", rel, i)) {
				t.Error(err)
			}
		}
	}
}

// goodTask passes every check; each bad variant below breaks one thing.
const goodTask = `apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: demo
  labels: {app.kubernetes.io/version: "0.1"}
  annotations: {tekton.dev/pipelines.minVersion: "0.59.0", tekton.dev/categories: Security, tekton.dev/tags: demo,
    tekton.dev/platforms: "linux/amd64,linux/arm64", tekton.dev/displayName: Demo}
spec:
  params: [{name: x, type: string}]
  results: [{name: out, description: an output}]
  steps:
    - name: s
      image: registry.example.com/tool@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
      env: [{name: X, value: $(params.x)}]
      script: |
        printf '%s' "$X" > $(results.out.path)
      securityContext:
        runAsNonRoot: true
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: [ALL]}
`

// TestChecksFail proves the lint catches what it is meant to catch: each
// case edits goodTask (old, new pairs) and wants an error naming the field.
func TestChecksFail(t *testing.T) {
	const path = "tasks/demo/0.1/demo.yaml"
	const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const secCtx = "      securityContext:\n        runAsNonRoot: true\n        allowPrivilegeEscalation: false\n        readOnlyRootFilesystem: true\n        capabilities: {drop: [ALL]}\n"
	cases := []struct {
		name, path, want string
		edits            []string
	}{
		{"good", path, "", nil},
		{"param in script", path, "spec.steps[0](s).script: interpolates", []string{`"$X"`, `"$(params.x)"`}},
		{"image by tag", path, "spec.steps[0](s).image", []string{digest, ":latest"}},
		{"param image with tag default", path, `default of param "img"`, []string{
			"registry.example.com/tool" + digest, "$(params.img)", "type: string}]", `type: string}, {name: img, default: "tool:1"}]`}},
		{"no securityContext", path, "spec.steps[0](s).securityContext is missing", []string{secCtx, ""}},
		{"privilege escalation", path, "allowPrivilegeEscalation must be false", []string{"Escalation: false", "Escalation: true"}},
		{"capabilities kept", path, "capabilities.drop must contain ALL", []string{"[ALL]", "[NET_RAW]"}},
		{"result never written", path, "results[0](out): no step writes it", []string{" > $(results.out.path)", ""}},
		{"version label", "tasks/demo/0.2/demo.yaml", "metadata.labels[app.kubernetes.io/version]", nil},
		{"name", "tasks/other/0.1/other.yaml", "metadata.name", nil},
		{"annotation", path, "metadata.annotations[tekton.dev/tags]", []string{"tekton.dev/tags: demo", "x: y"}},
		{"tekton validation", path, "Tekton validation", []string{"value: $(params.x)", "value: $(params.nope)"}},
		{"no displayName", path, "metadata.annotations[tekton.dev/displayName]", []string{"tekton.dev/displayName: Demo", "x: y"}},
		{"no platforms", path, "metadata.annotations[tekton.dev/platforms]", []string{`tekton.dev/platforms: "linux/amd64,linux/arm64"`, "x: y"}},
		{"windows platform", path, `lists "windows/amd64"`, []string{"linux/arm64", "windows/amd64"}},
		{"minVersion not semver", path, "want MAJOR.MINOR.PATCH", []string{`"0.59.0"`, `"v0.59"`}},
		{"fixed uid", path, "runAsUser and runAsGroup must not be set", []string{"runAsNonRoot: true", "runAsNonRoot: true\n        runAsUser: 1000"}},
		{"root", path, "runAsNonRoot must be true", []string{"runAsNonRoot: true", "runAsNonRoot: false"}},
		{"privileged", path, "privileged must not be true", []string{"runAsNonRoot: true", "runAsNonRoot: true\n        privileged: true"}},
		{"ko default of another module", path, "not pinned by digest", []string{
			"registry.example.com/tool" + digest, "$(params.img)", "type: string}]", `type: string}, {name: img, default: "ko://example.com/x/cmd/y"}]`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := goodTask
			for i := 0; i < len(c.edits); i += 2 {
				if !strings.Contains(y, c.edits[i]) {
					t.Fatalf("bad test: %q not in goodTask", c.edits[i])
				}
				y = strings.Replace(y, c.edits[i], c.edits[i+1], 1)
			}
			task, err := ParseTask([]byte(y))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var got []string
			for _, err := range CheckTask(task, c.path, Source) {
				got = append(got, err.Error())
			}
			all := strings.Join(got, "\n")
			t.Log(all)
			if c.want == "" && all != "" || !strings.Contains(all, c.want) {
				t.Errorf("want an error containing %q (none if empty), got:\n%s", c.want, all)
			}
		})
	}
	// Strict parsing refuses unknown fields and extra documents.
	for _, y := range []string{strings.Replace(goodTask, "steps:", "stepz:", 1), goodTask + "---\nkind: Task\n"} {
		if _, err := ParseTask([]byte(y)); err == nil {
			t.Errorf("ParseTask accepted:\n%s", y)
		}
	}
	// The CLI's ko:// default stands for the released image in a
	// checkout, and is refused in a release.
	ko := strings.Replace(strings.Replace(goodTask, "registry.example.com/tool"+digest, "$(params.modelguard-image)", 1),
		"type: string}]", "type: string}, {name: modelguard-image, default: \""+koCLI+"\"}]", 1)
	task, err := ParseTask([]byte(ko))
	if err != nil {
		t.Fatal(err)
	}
	if errs := CheckTask(task, path, Source); len(errs) > 0 {
		t.Errorf("the CLI's ko:// default in a checkout: %v", errs)
	}
	if errs := CheckTask(task, path, Released); len(errs) == 0 {
		t.Error("a released Task that defaults to ko:// passed")
	}
}
