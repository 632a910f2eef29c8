package catalog

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

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

// The annotations Artifact Hub and the Tekton Hub index a Task by.
var hubAnnotations = []string{"tekton.dev/pipelines.minVersion", "tekton.dev/categories", "tekton.dev/tags",
	"tekton.dev/platforms", "tekton.dev/displayName"}

var (
	paramRef  = regexp.MustCompile(`\$\(params[.\[]`)
	paramOnly = regexp.MustCompile(`^\$\(params\.([_a-zA-Z][_a-zA-Z0-9.-]*)\)$`)
	docSep    = regexp.MustCompile(`(?m)^---[ \t]*$`)
	semver    = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
)

// Resource is what Tekton's admission webhook calls on an object.
type Resource interface {
	metav1.Object
	GetObjectKind() schema.ObjectKind
	SetDefaults(context.Context)
	Validate(context.Context) *apis.FieldError
}

// Docs splits a YAML stream, dropping empty and comment-only documents.
func Docs(data []byte) [][]byte {
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
func parse(data []byte, obj Resource, kind string) error {
	d := Docs(data)
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

// ParseTask strictly decodes one tekton.dev/v1 Task.
func ParseTask(data []byte) (*v1.Task, error) {
	var task v1.Task
	return &task, parse(data, &task, "Task")
}

// parseResource returns the Task or Pipeline in data.
func parseResource(data []byte, kind string) (Resource, error) {
	if kind == "Task" {
		return ParseTask(data)
	}
	var p v1.Pipeline
	return &p, parse(data, &p, "Pipeline")
}

// Validate defaults and validates obj (pass a copy), as Tekton's
// admission webhook would.
func Validate(obj Resource, path string) []error {
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

// checkResource runs every check that needs only the parsed object.
func checkResource(obj Resource, path string, mode Mode) []error {
	switch r := obj.(type) {
	case *v1.Task:
		return CheckTask(r, path, mode)
	case *v1.Pipeline:
		return checkPipeline(r, path, mode)
	}
	return []error{fmt.Errorf("%s: %T is no Task or Pipeline", path, obj)}
}

// CheckTask runs every check that needs only the parsed Task.
func CheckTask(task *v1.Task, path string, mode Mode) []error {
	errs := checkMetadata(task.ObjectMeta, path)
	errs = append(errs, checkSteps(&task.Spec, path, "spec", mode)...)
	return append(errs, Validate(task.DeepCopy(), path)...)
}

// checkPipeline lints a Pipeline's metadata and every embedded taskSpec.
func checkPipeline(p *v1.Pipeline, path string, mode Mode) []error {
	errs := checkMetadata(p.ObjectMeta, path)
	for _, list := range []string{"tasks", "finally"} {
		tasks := map[string][]v1.PipelineTask{"tasks": p.Spec.Tasks, "finally": p.Spec.Finally}[list]
		for i, pt := range tasks {
			if pt.TaskSpec != nil {
				errs = append(errs, checkSteps(&pt.TaskSpec.TaskSpec, path, fmt.Sprintf("spec.%s[%d](%s).taskSpec", list, i, pt.Name), mode)...)
			}
		}
	}
	errs = append(errs, checkImageDefaults(p.Spec.Params, path, mode)...)
	errs = append(errs, checkProvenanceFirst(p, path)...)
	return append(errs, Validate(p.DeepCopy(), path)...)
}

// checkMetadata: metadata.name matches the directory, the version label
// matches the version directory, and the hub annotations are present, the
// minimum Tekton version as MAJOR.MINOR.PATCH.
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
	for _, a := range hubAnnotations {
		if strings.TrimSpace(meta.Annotations[a]) == "" {
			errs = append(errs, fmt.Errorf("%s: metadata.annotations[%s] is missing", path, a))
		}
	}
	if v := meta.Annotations["tekton.dev/pipelines.minVersion"]; v != "" && !semver.MatchString(v) {
		errs = append(errs, fmt.Errorf("%s: metadata.annotations[tekton.dev/pipelines.minVersion] is %q, want MAJOR.MINOR.PATCH", path, v))
	}
	for _, p := range strings.Split(meta.Annotations["tekton.dev/platforms"], ",") {
		if p = strings.TrimSpace(p); p != "" && !strings.HasPrefix(p, "linux/") {
			errs = append(errs, fmt.Errorf("%s: metadata.annotations[tekton.dev/platforms] lists %q; the images are linux only", path, p))
		}
	}
	return errs
}

// pinned reports whether an image default is acceptable: by digest, or,
// in a checkout, the CLI's ko:// reference a release resolves.
func pinned(img string, mode Mode) bool {
	return strings.Contains(img, "@sha256:") || mode == Source && img == koCLI
}

// checkImageDefaults: a param whose name says it is an image defaults to
// a pinned one (or to nothing: the user must give it).
func checkImageDefaults(params v1.ParamSpecs, path string, mode Mode) []error {
	var errs []error
	for _, p := range params {
		if strings.HasSuffix(p.Name, "-image") && p.Name != "base-image" && p.Default != nil && !pinned(p.Default.StringVal, mode) {
			errs = append(errs, fmt.Errorf("%s: param %q defaults to %q, not pinned by digest (@sha256:)", path, p.Name, p.Default.StringVal))
		}
	}
	return errs
}

// checkSteps lints the steps (merged with stepTemplate) and sidecars of a
// TaskSpec; field is where the spec sits in the file, e.g. "spec".
func checkSteps(spec *v1.TaskSpec, path, field string, mode Mode) []error {
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
			if d, ok := defaults[m[1]]; ok && !pinned(d, mode) {
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
		errs = append(errs, checkSecurityContext(s.SecurityContext, path, f)...)
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
// filesystem, all capabilities dropped, no fixed UID: what Pod Security
// "restricted" and OpenShift's restricted-v2 admit, plus the read-only
// root.
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
		// OpenShift's restricted-v2 assigns the UID and GID from the
		// namespace's range and refuses a pod that fixes others.
		{sc.RunAsUser == nil && sc.RunAsGroup == nil, "runAsUser and runAsGroup must not be set (restricted-v2 assigns them)"},
		{!ptr.Deref(sc.Privileged, false), "privileged must not be true"},
	} {
		if !r.ok {
			errs = append(errs, fmt.Errorf("%s: %s.securityContext.%s", path, f, r.want))
		}
	}
	return errs
}
