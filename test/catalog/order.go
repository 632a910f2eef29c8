package catalog

import (
	"fmt"
	"path"
	"reflect"
	"slices"
	"strings"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
)

// The gates that may attest on the image they check (with the namespace's
// signing key), as custom-task kinds and as pod Tasks.
var (
	attestingKinds = []v1.TaskKind{"ImageScan", "ImageCheck", "DeploymentCheck"}
	attestingTasks = []string{"acs-image-scan", "acs-image-check", "acs-deployment-check"}
)

// checkProvenanceFirst: in a pipeline that builds an image Chains attests,
// every gate that may attest on it runs after a VerifyImage (or
// verify-image) of the build's provenance, under the same when
// expressions. A gate's write and Chains' write land on the same .att tag,
// and a registry cannot make the second writer see the first (no
// compare-and-swap on a tag): a gate that attested while Chains stored
// its provenance could silently drop it. Verifying first orders them.
func checkProvenanceFirst(p *v1.Pipeline, path string) []error {
	tasks := map[string]v1.PipelineTask{}
	for _, pt := range p.Spec.Tasks {
		tasks[pt.Name] = pt
	}
	var errs []error
	for i, pt := range p.Spec.Tasks {
		if !attests(pt) {
			continue
		}
		if !afterProvenance(pt, tasks) {
			errs = append(errs, fmt.Errorf("%s: spec.tasks[%d](%s) may attest on the image, but no VerifyImage of its build provenance (when %v) runs before it: it could write over Chains' provenance",
				path, i, pt.Name, whenOf(pt)))
		}
	}
	return errs
}

func attests(pt v1.PipelineTask) bool {
	if pt.TaskRef == nil {
		return false
	}
	if pt.TaskRef.APIVersion != "" {
		return slices.Contains(attestingKinds, pt.TaskRef.Kind)
	}
	return slices.Contains(attestingTasks, taskName(pt.TaskRef))
}

// taskName is the Task a reference names: by name, or through a resolver
// (the bundles, cluster and hub resolvers' "name" param, the git
// resolver's tasks/<name>/<version>/<name>.yaml).
func taskName(ref *v1.TaskRef) string {
	if ref.Name != "" || ref.Resolver == "" {
		return ref.Name
	}
	for _, p := range ref.Params {
		switch p.Name {
		case "name":
			return p.Value.StringVal
		case "pathInRepo":
			return strings.TrimSuffix(path.Base(p.Value.StringVal), ".yaml")
		}
	}
	return ""
}

// verifiesProvenance: a VerifyImage or verify-image that names the build
// task, so it waits for and checks Chains' provenance.
func verifiesProvenance(pt v1.PipelineTask) bool {
	if pt.TaskRef == nil {
		return false
	}
	isVerify := pt.TaskRef.APIVersion != "" && pt.TaskRef.Kind == "VerifyImage" ||
		pt.TaskRef.APIVersion == "" && taskName(pt.TaskRef) == "verify-image"
	if !isVerify {
		return false
	}
	for _, p := range pt.Params {
		if p.Name == "build-task" && p.Value.StringVal != "" {
			return true
		}
	}
	return false
}

// afterProvenance walks pt's dependencies (runAfter and result
// references) for a provenance check that runs whenever pt runs: no when
// expressions, or the same as pt's.
func afterProvenance(pt v1.PipelineTask, tasks map[string]v1.PipelineTask) bool {
	seen := map[string]bool{}
	queue := pt.Deps()
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		dep, ok := tasks[name]
		if !ok {
			continue
		}
		if verifiesProvenance(dep) && (len(dep.When) == 0 || reflect.DeepEqual(dep.When, pt.When)) {
			return true
		}
		queue = append(queue, dep.Deps()...)
	}
	return false
}

func whenOf(pt v1.PipelineTask) string {
	if len(pt.When) == 0 {
		return "always"
	}
	var out []string
	for _, w := range pt.When {
		out = append(out, fmt.Sprintf("%s %s %v", w.Input, w.Operator, w.Values))
	}
	return strings.Join(out, ", ")
}
