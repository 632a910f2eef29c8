// Package catalog lints tasks/ and pipelines/ by the Tekton catalog's
// rules, without a cluster: <kind>s/<name>/<version>/<name>.yaml next to a
// README.md, version label and hub annotations, no params interpolated into
// scripts, step images pinned by digest, a locked-down step securityContext,
// no result that nothing writes, and Tekton's own defaulting + validation.
package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/yaml"
)

// resultsDirArg is how a modelguard step says it writes every declared
// result, one file each, into the Task's results directory.
const resultsDirArg = "--results-dir=/tekton/results"

var (
	paramRef  = regexp.MustCompile(`\$\(params[.\[]`)
	paramOnly = regexp.MustCompile(`^\$\(params\.([_a-zA-Z][_a-zA-Z0-9.-]*)\)$`)
	docSep    = regexp.MustCompile(`(?m)^---[ \t]*$`)
)

// resource is what Tekton's admission webhook calls on an object.
type resource interface {
	metav1.Object
	GetObjectKind() schema.ObjectKind
	SetDefaults(context.Context)
	Validate(context.Context) *apis.FieldError
}

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

// docs splits a YAML stream, dropping empty and comment-only documents.
func docs(data []byte) [][]byte {
	var out [][]byte
	for _, d := range docSep.Split(string(data), -1) {
		var m map[string]any
		if yaml.Unmarshal([]byte(d), &m) == nil && len(m) == 0 {
			continue
		}
		out = append(out, []byte(d))
	}
	return out
}

// parse strictly decodes exactly one tekton.dev/v1 document of kind.
func parse(data []byte, obj resource, kind string) error {
	d := docs(data)
	if len(d) != 1 {
		return fmt.Errorf("want exactly one YAML document, found %d", len(d))
	}
	if err := yaml.UnmarshalStrict(d[0], obj); err != nil {
		return err
	}
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.GroupVersion().String() != "tekton.dev/v1" || gvk.Kind != kind {
		return fmt.Errorf("apiVersion/kind is %s, want tekton.dev/v1 %s", gvk, kind)
	}
	return nil
}

func parseTask(data []byte) (*v1.Task, error) {
	var task v1.Task
	return &task, parse(data, &task, "Task")
}

// tektonValidate defaults and validates obj (pass a copy), as the webhook would.
func tektonValidate(obj resource, path string) []error {
	ctx := context.Background()
	if obj.GetName() == "" { // the API server names it from generateName first
		obj.SetName(obj.GetGenerateName() + "x")
	}
	obj.SetDefaults(ctx)
	if fe := obj.Validate(ctx); fe != nil {
		return []error{fmt.Errorf("%s: Tekton validation: %v", path, fe)}
	}
	return nil
}

// checkMetadata: metadata.name matches the directory, the version label
// matches the version directory, and the hub annotations are present.
func checkMetadata(meta metav1.ObjectMeta, path string) []error {
	var errs []error
	version := filepath.Base(filepath.Dir(path))
	name := filepath.Base(filepath.Dir(filepath.Dir(path)))
	if meta.Name != name {
		errs = append(errs, fmt.Errorf("%s: metadata.name is %q, want %q (the directory name)", path, meta.Name, name))
	}
	if got := meta.Labels["app.kubernetes.io/version"]; got != version {
		errs = append(errs, fmt.Errorf("%s: metadata.labels[app.kubernetes.io/version] is %q, want %q (the directory version)", path, got, version))
	}
	for _, a := range []string{"tekton.dev/pipelines.minVersion", "tekton.dev/categories", "tekton.dev/tags"} {
		if strings.TrimSpace(meta.Annotations[a]) == "" {
			errs = append(errs, fmt.Errorf("%s: metadata.annotations[%s] is missing", path, a))
		}
	}
	return errs
}

// checkSteps lints the steps (merged with stepTemplate) and sidecars of a
// TaskSpec; field is where the spec sits in the file, e.g. "spec".
func checkSteps(spec *v1.TaskSpec, path, field string) []error {
	var errs []error
	steps, err := v1.MergeStepsWithStepTemplate(spec.StepTemplate, spec.Steps)
	if err != nil {
		return []error{fmt.Errorf("%s: %s.stepTemplate: %v", path, field, err)}
	}
	defaults := map[string]string{}
	for _, p := range spec.Params {
		if p.Default != nil {
			defaults[p.Name] = p.Default.StringVal
		}
	}
	image := func(f, img string) {
		if m := paramOnly.FindStringSubmatch(img); m != nil {
			if d, ok := defaults[m[1]]; ok && !strings.Contains(d, "@sha256:") {
				errs = append(errs, fmt.Errorf("%s: %s.image: default of param %q is %q, not pinned by digest (@sha256:)", path, f, m[1], d))
			}
			return
		}
		if !strings.Contains(img, "@sha256:") {
			errs = append(errs, fmt.Errorf("%s: %s.image: %q is not pinned by digest (@sha256:) nor a $(params.…)", path, f, img))
		}
	}
	script := func(f, s string) {
		if paramRef.MatchString(s) {
			errs = append(errs, fmt.Errorf("%s: %s.script: interpolates $(params.…); pass the value through env or args instead", path, f))
		}
	}
	var text strings.Builder // what the steps could write results with
	writesAll := false
	for i, s := range steps {
		f := fmt.Sprintf("%s.steps[%d](%s)", field, i, s.Name)
		image(f, s.Image)
		script(f, s.Script)
		errs = append(errs, checkSecurityContext(s.SecurityContext, path, f)...)
		text.WriteString(fmt.Sprint(s.Script, s.Command, s.Args, s.Env))
		writesAll = writesAll || slices.Contains(s.Args, resultsDirArg)
	}
	for i, s := range spec.Sidecars {
		f := fmt.Sprintf("%s.sidecars[%d](%s)", field, i, s.Name)
		image(f, s.Image)
		script(f, s.Script)
	}
	for i, r := range spec.Results {
		all := text.String()
		if !writesAll && !strings.Contains(all, "$(results."+r.Name+".path)") && !strings.Contains(all, "/tekton/results/"+r.Name) {
			errs = append(errs, fmt.Errorf("%s: %s.results[%d](%s): no step writes it ($(results.%s.path) or %s)", path, field, i, r.Name, r.Name, resultsDirArg))
		}
	}
	return errs
}

// checkSecurityContext: non-root, no privilege escalation, read-only root
// filesystem, all capabilities dropped.
func checkSecurityContext(sc *corev1.SecurityContext, path, f string) []error {
	if sc == nil {
		return []error{fmt.Errorf("%s: %s.securityContext is missing", path, f)}
	}
	var errs []error
	for _, r := range []struct {
		ok   bool
		want string
	}{
		{ptr.Deref(sc.RunAsNonRoot, false), "runAsNonRoot must be true"},
		{!ptr.Deref(sc.AllowPrivilegeEscalation, true), "allowPrivilegeEscalation must be false"},
		{ptr.Deref(sc.ReadOnlyRootFilesystem, false), "readOnlyRootFilesystem must be true"},
		{sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL"), "capabilities.drop must contain ALL"},
	} {
		if !r.ok {
			errs = append(errs, fmt.Errorf("%s: %s.securityContext.%s", path, f, r.want))
		}
	}
	return errs
}

// checkTask runs every check that needs only the parsed Task.
func checkTask(task *v1.Task, path string) []error {
	errs := checkMetadata(task.ObjectMeta, path)
	errs = append(errs, checkSteps(&task.Spec, path, "spec")...)
	return append(errs, tektonValidate(task.DeepCopy(), path)...)
}

// checkPipeline lints a Pipeline's metadata and every embedded taskSpec.
func checkPipeline(p *v1.Pipeline, path string) []error {
	errs := checkMetadata(p.ObjectMeta, path)
	for _, list := range []string{"tasks", "finally"} {
		tasks := map[string][]v1.PipelineTask{"tasks": p.Spec.Tasks, "finally": p.Spec.Finally}[list]
		for i, pt := range tasks {
			if pt.TaskSpec != nil {
				errs = append(errs, checkSteps(&pt.TaskSpec.TaskSpec, path, fmt.Sprintf("spec.%s[%d](%s).taskSpec", list, i, pt.Name))...)
			}
		}
	}
	return append(errs, tektonValidate(p.DeepCopy(), path)...)
}

// checkDir checks the layout of one <kind>s/<name>/<version>/ directory
// and lints the resource in it.
func checkDir(root, dir, kind string) []error {
	name := filepath.Base(filepath.Dir(dir))
	rel, _ := filepath.Rel(root, filepath.Join(dir, name+".yaml"))
	var errs []error
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		errs = append(errs, fmt.Errorf("%s: README.md is missing next to it", rel))
	}
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return append(errs, fmt.Errorf("%s: want the %s at <%ss>/<name>/<version>/<name>.yaml: %v", rel, kind, strings.ToLower(kind), err))
	}
	if kind == "Task" {
		task, err := parseTask(data)
		if err != nil {
			return append(errs, fmt.Errorf("%s: not a strict tekton.dev/v1 Task: %v", rel, err))
		}
		return append(errs, checkTask(task, rel)...)
	}
	var p v1.Pipeline
	if err := parse(data, &p, "Pipeline"); err != nil {
		return append(errs, fmt.Errorf("%s: not a strict tekton.dev/v1 Pipeline: %v", rel, err))
	}
	return append(errs, checkPipeline(&p, rel)...)
}

func TestCatalog(t *testing.T) {
	root := repoRoot(t)
	found := 0
	for _, kind := range []string{"Task", "Pipeline"} {
		dirs, _ := filepath.Glob(filepath.Join(root, strings.ToLower(kind)+"s", "*", "*"))
		for _, dir := range dirs {
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				continue
			}
			found++
			rel, _ := filepath.Rel(root, dir)
			t.Run(rel, func(t *testing.T) {
				for _, err := range checkDir(root, dir, kind) {
					t.Error(err)
				}
			})
		}
	}
	if found == 0 {
		t.Fatalf("no tasks/*/*/ or pipelines/*/*/ directories under %s", root)
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
		for i, d := range docs(data) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(d, &tm); err != nil || tm.Kind == "" || tm.APIVersion == "" {
				t.Errorf("%s: document %d: no apiVersion/kind (%v)", rel, i, err)
				continue
			}
			obj := map[string]resource{"tekton.dev/v1 PipelineRun": &v1.PipelineRun{}, "tekton.dev/v1 TaskRun": &v1.TaskRun{}}[tm.APIVersion+" "+tm.Kind]
			if obj == nil {
				continue
			}
			if err := yaml.UnmarshalStrict(d, obj); err != nil {
				t.Errorf("%s: document %d (%s): %v", rel, i, tm.Kind, err)
			}
			for _, err := range tektonValidate(obj, fmt.Sprintf("%s: document %d", rel, i)) {
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
  annotations: {tekton.dev/pipelines.minVersion: "0.59.0", tekton.dev/categories: Security, tekton.dev/tags: demo}
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
			task, err := parseTask([]byte(y))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var got []string
			for _, err := range checkTask(task, c.path) {
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
		if _, err := parseTask([]byte(y)); err == nil {
			t.Errorf("parseTask accepted:\n%s", y)
		}
	}
}
