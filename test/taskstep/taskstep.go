// Package taskstep reads a catalog Task and gives the command line Tekton
// would run for one of its steps, so tests can run a Task's step as a
// process before the local cluster has a kubelet to run pods.
package taskstep

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

// Load parses a Task file.
func Load(path string) (*pipelinev1.Task, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	task := &pipelinev1.Task{}
	if err := yaml.UnmarshalStrict(b, task); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return task, nil
}

var (
	ref      = regexp.MustCompile(`\$\((params|workspaces)\.([A-Za-z0-9_-]+)(\.path|\.bound)?\)`)
	arrayRef = regexp.MustCompile(`^\$\(params\.([A-Za-z0-9_-]+)\[\*\]\)$`)
)

// Inputs are what a TaskRun gives a Task.
type Inputs struct {
	Params map[string]string
	Arrays map[string][]string // array params
	// Workspaces maps bound workspaces to their paths; an optional
	// workspace left out is unbound, as in Tekton.
	Workspaces map[string]string
}

// Args is Inputs{Params: params, Workspaces: workspaces}.Args.
func Args(task *pipelinev1.Task, step int, params, workspaces map[string]string) ([]string, error) {
	return Inputs{Params: params, Workspaces: workspaces}.Args(task, step)
}

// Args is what Tekton passes to the step's args: params substituted, with
// the Task's defaults for params not given; an arg that is exactly
// $(params.x[*]) expands to the array's elements; workspace paths and
// .bound come from Workspaces (an unbound optional workspace has an empty
// path, as in Tekton).
func (in Inputs) Args(task *pipelinev1.Task, step int) ([]string, error) {
	values, arrays := map[string]string{}, map[string][]string{}
	for _, p := range task.Spec.Params {
		if p.Default != nil {
			values[p.Name], arrays[p.Name] = p.Default.StringVal, p.Default.ArrayVal
		}
	}
	for k, v := range in.Params {
		values[k] = v
	}
	for k, v := range in.Arrays {
		arrays[k] = v
	}
	var missing []string
	var out []string
	for _, a := range task.Spec.Steps[step].Args {
		if m := arrayRef.FindStringSubmatch(a); m != nil {
			v, ok := arrays[m[1]]
			if !ok {
				missing = append(missing, m[1])
			}
			out = append(out, v...)
			continue
		}
		out = append(out, ref.ReplaceAllStringFunc(a, func(r string) string {
			m := ref.FindStringSubmatch(r)
			if m[1] == "workspaces" {
				path, bound := in.Workspaces[m[2]]
				if m[3] == ".bound" {
					return fmt.Sprint(bound)
				}
				return path
			}
			v, ok := values[m[2]]
			if !ok {
				missing = append(missing, m[2])
			}
			return v
		}))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("params without a value or a default: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// MissingResults lists the Task's declared results that have no file in
// dir: a Task must write every result, whatever happened.
func MissingResults(task *pipelinev1.Task, dir string) []string {
	var missing []string
	for _, r := range task.Spec.Results {
		if _, err := os.Stat(filepath.Join(dir, r.Name)); err != nil {
			missing = append(missing, r.Name)
		}
	}
	return missing
}
