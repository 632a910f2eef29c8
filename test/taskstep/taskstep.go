// Package taskstep reads a catalog Task and gives the command line Tekton
// would run for one of its steps, so tests can run a Task's step as a
// process before the local cluster has a kubelet to run pods.
package taskstep

import (
	"fmt"
	"os"
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

var ref = regexp.MustCompile(`\$\((params|workspaces)\.([A-Za-z0-9_-]+)(\.path)?\)`)

// Args is what Tekton passes to the step's args: params substituted, with
// the Task's defaults for params not given, and workspace paths from
// workspaces (an optional workspace not given has an empty path, as in
// Tekton).
func Args(task *pipelinev1.Task, step int, params, workspaces map[string]string) ([]string, error) {
	values := map[string]string{}
	for _, p := range task.Spec.Params {
		if p.Default != nil {
			values[p.Name] = p.Default.StringVal
		}
	}
	for k, v := range params {
		values[k] = v
	}
	var missing []string
	var out []string
	for _, a := range task.Spec.Steps[step].Args {
		out = append(out, ref.ReplaceAllStringFunc(a, func(r string) string {
			m := ref.FindStringSubmatch(r)
			if m[1] == "workspaces" {
				return workspaces[m[2]]
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
