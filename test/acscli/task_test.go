package acscli

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	kindcentral "github.com/modelguard/modelguard/pkg/central"
	"github.com/modelguard/modelguard/pkg/cli"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/kinds/imagescan"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/modelguard/modelguard/test/taskstep"
)

// taskRun runs a catalog Task's step args through the CLI, as the step
// would (until the pods issue runs them in real pods): the Secret
// workspace is the emulator's, results go to a temp dir. It returns the
// exit code, the log and the results dir.
func (c *central) taskRun(t *testing.T, name string, in taskstep.Inputs) (int, string, string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	task, err := taskstep.Load(filepath.Join(filepath.Dir(file), "..", "..", "tasks", name, "0.1", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Workspaces == nil {
		in.Workspaces = map[string]string{}
	}
	in.Workspaces["acs-secret"] = c.secret
	if in.Params == nil {
		in.Params = map[string]string{}
	}
	in.Params["modelguard-image"] = "unused@sha256:0"
	in.Params["retries"] = "1"
	args, err := in.Args(task, 0)
	if err != nil {
		t.Fatal(err)
	}
	results := t.TempDir()
	for i, a := range args {
		args[i] = strings.Replace(a, "--results-dir=/tekton/results", "--results-dir="+results, 1)
	}
	var out bytes.Buffer
	code := cli.Execute(args, &out, &out)
	if missing := taskstep.MissingResults(task, results); len(missing) > 0 {
		t.Errorf("%s (exit %d) did not write results %v\n%s", name, code, missing, out.String())
	}
	return code, out.String(), results
}

func TestTaskACSImageScan(t *testing.T) {
	c := startCentral(t)
	code, log, results := c.taskRun(t, "acs-image-scan", taskstep.Inputs{Params: map[string]string{"image": clean}})
	if code != cli.ExitOK || readResult(t, results, "gate") != "pass" || !strings.Contains(log, "gate: PASS") {
		t.Fatalf("clean: exit %d\n%s", code, log)
	}
	report := t.TempDir()
	code, log, results = c.taskRun(t, "acs-image-scan", taskstep.Inputs{
		Params:     map[string]string{"image": critical, "severity": "IMPORTANT", "report-format": "sarif"},
		Arrays:     map[string][]string{"allow": {"CVE-2025-32434,2099-12-31,pinned torch until the runtime moves"}},
		Workspaces: map[string]string{"report": report},
	})
	if code != cli.ExitDenied || readResult(t, results, "gate") != "fail" || !strings.Contains(readResult(t, results, "top-cves"), "CVE-2024-5535") {
		t.Fatalf("critical: exit %d\n%s", code, log)
	}
	if strings.Contains(readResult(t, results, "top-cves"), "CVE-2025-32434") {
		t.Errorf("the allow-listed CVE is in top-cves: %q", readResult(t, results, "top-cves"))
	}
	if b, err := os.ReadFile(filepath.Join(report, "acs-scan.sarif")); err != nil || !strings.Contains(string(b), `"version": "2.1.0"`) {
		t.Errorf("report file: %v", err)
	}
}

func TestTaskACSImageCheck(t *testing.T) {
	c := startCentral(t)
	if code, log, results := c.taskRun(t, "acs-image-check", taskstep.Inputs{Params: map[string]string{"image": clean}}); code != cli.ExitOK || readResult(t, results, "gate") != "pass" {
		t.Fatalf("clean: exit %d\n%s", code, log)
	}
	code, log, results := c.taskRun(t, "acs-image-check", taskstep.Inputs{Params: map[string]string{"image": log4j}})
	if code != cli.ExitDenied || !strings.Contains(readResult(t, results, "breaking-policies"), "log4j") {
		t.Fatalf("log4j: exit %d\n%s", code, log)
	}
	// A wrong token: the step fails at once, and the results say why.
	os.WriteFile(filepath.Join(c.secret, "token"), []byte("wrong"), 0o600)
	code, log, results = c.taskRun(t, "acs-image-check", taskstep.Inputs{Params: map[string]string{"image": clean}})
	if code != cli.ExitError || readResult(t, results, "gate") != "error" || strings.Contains(log, token) {
		t.Fatalf("wrong token: exit %d\n%s", code, log)
	}
	if s := readResult(t, results, "summary"); !strings.Contains(strings.ToLower(s), "authenticat") || strings.Contains(s, token) {
		t.Errorf("summary = %q", s)
	}
}

func TestTaskACSDeploymentCheck(t *testing.T) {
	c := startCentral(t)
	ws := t.TempDir()
	os.MkdirAll(filepath.Join(ws, "serving"), 0o755)
	os.WriteFile(filepath.Join(ws, "serving", "isvc.yaml"), []byte(servingStack), 0o644)
	os.WriteFile(filepath.Join(ws, "privileged.yaml"), []byte(deployment(true)), 0o644)
	run := func(path string) (int, string, string) {
		return c.taskRun(t, "acs-deployment-check", taskstep.Inputs{
			Params: map[string]string{"manifests-path": path}, Workspaces: map[string]string{"manifests": ws}})
	}
	if code, log, results := run("serving"); code != cli.ExitOK || readResult(t, results, "gate") != "pass" {
		t.Fatalf("serving: exit %d\n%s", code, log)
	}
	if code, log, results := run("privileged.yaml"); code != cli.ExitDenied || readResult(t, results, "breaking-policies") != "Privileged Container" {
		t.Fatalf("privileged: exit %d\n%s", code, log)
	}
	if code, log, results := run("missing.yaml"); code != cli.ExitError || readResult(t, results, "gate") != "error" || !strings.Contains(log, "missing.yaml") {
		t.Fatalf("missing file: exit %d\n%s", code, log)
	}
}

// Every acs Task declares exactly the results of the custom task it
// mirrors, so swapping one for the other keeps $(tasks.x.results.y) valid.
func TestTaskResultsMatchKinds(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	for task, res := range map[string]results.Results{
		"acs-image-scan":       imagescan.Results(gate.ScanReport{}),
		"acs-image-check":      kindcentral.DetectResults(gate.DetectReport{}),
		"acs-deployment-check": kindcentral.DetectResults(gate.DetectReport{}),
	} {
		tk, err := taskstep.Load(filepath.Join(filepath.Dir(file), "..", "..", "tasks", task, "0.1", task+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var declared, kind []string
		for _, r := range tk.Spec.Results {
			declared = append(declared, r.Name)
		}
		for _, r := range res {
			kind = append(kind, r.Name)
		}
		slices.Sort(declared)
		slices.Sort(kind)
		if !slices.Equal(declared, kind) {
			t.Errorf("%s declares %v; the custom task writes %v", task, declared, kind)
		}
	}
}
