package taskstep

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/cli"
)

// Step is what one run of a catalog Task's step gave.
type Step struct {
	Code    int               // the CLI's exit code
	Log     string            // stdout and stderr
	Results map[string]string // every result file the step wrote
}

// Run runs step 0 of tasks/<name>/0.1 in this process, with the args
// Tekton would pass it (the modelguard CLI is the step's command), results
// going to a temp dir. It fails the test if the step leaves a declared
// result unwritten: a Task writes every result, whatever happened.
func Run(t testing.TB, name string, in Inputs) Step {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	task, err := Load(filepath.Join(filepath.Dir(file), "..", "..", "tasks", name, "0.1", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	args, err := in.Args(task, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, a := range args {
		args[i] = strings.Replace(a, "--results-dir=/tekton/results", "--results-dir="+dir, 1)
	}
	var out bytes.Buffer
	s := Step{Code: cli.Execute(args, &out, &out), Results: map[string]string{}}
	s.Log = out.String()
	if missing := MissingResults(task, dir); len(missing) > 0 {
		t.Errorf("%s (exit %d) did not write results %v\n%s", name, s.Code, missing, s.Log)
	}
	for _, r := range task.Spec.Results {
		if b, err := os.ReadFile(filepath.Join(dir, r.Name)); err == nil {
			s.Results[r.Name] = string(b)
		}
	}
	return s
}
