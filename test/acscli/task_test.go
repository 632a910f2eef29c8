package acscli

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/cli"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/modelguard/modelguard/test/taskstep"
)

// taskRun runs a catalog Task's step args through the CLI, as the step
// would: the Secret workspace is the emulator's. It returns the exit code,
// the log and the results.
func (c *central) taskRun(t *testing.T, name string, in taskstep.Inputs) (int, string, map[string]string) {
	t.Helper()
	if in.Workspaces == nil {
		in.Workspaces = map[string]string{}
	}
	in.Workspaces["acs-secret"] = c.secret
	if in.Params == nil {
		in.Params = map[string]string{}
	}
	in.Params["modelguard-image"] = "unused@sha256:" + strings.Repeat("0", 64)
	in.Params["retries"] = "1"
	s := taskstep.Run(t, name, in)
	return s.Code, s.Log, s.Results
}

func TestTaskACSImageScan(t *testing.T) {
	c := startCentral(t)
	code, log, results := c.taskRun(t, "acs-image-scan", taskstep.Inputs{Params: map[string]string{"image": clean}})
	if code != cli.ExitOK || results["gate"] != "pass" || !strings.Contains(log, "gate: PASS") {
		t.Fatalf("clean: exit %d\n%s", code, log)
	}
	report := t.TempDir()
	code, log, results = c.taskRun(t, "acs-image-scan", taskstep.Inputs{
		Params:     map[string]string{"image": critical, "severity": "IMPORTANT", "report-format": "sarif"},
		Arrays:     map[string][]string{"allow": {"CVE-2025-32434,2099-12-31,pinned torch until the runtime moves"}},
		Workspaces: map[string]string{"report": report},
	})
	if code != cli.ExitDenied || results["gate"] != "fail" || !strings.Contains(results["top-cves"], "CVE-2024-5535") {
		t.Fatalf("critical: exit %d\n%s", code, log)
	}
	if strings.Contains(results["top-cves"], "CVE-2025-32434") {
		t.Errorf("the allow-listed CVE is in top-cves: %q", results["top-cves"])
	}
	if b, err := os.ReadFile(filepath.Join(report, "acs-scan.sarif")); err != nil || !strings.Contains(string(b), `"version": "2.1.0"`) {
		t.Errorf("report file: %v", err)
	}
}

func TestTaskACSImageCheck(t *testing.T) {
	c := startCentral(t)
	if code, log, results := c.taskRun(t, "acs-image-check", taskstep.Inputs{Params: map[string]string{"image": clean}}); code != cli.ExitOK || results["gate"] != "pass" {
		t.Fatalf("clean: exit %d\n%s", code, log)
	}
	code, log, results := c.taskRun(t, "acs-image-check", taskstep.Inputs{Params: map[string]string{"image": log4j}})
	if code != cli.ExitDenied || !strings.Contains(results["breaking-policies"], "log4j") {
		t.Fatalf("log4j: exit %d\n%s", code, log)
	}
	// A wrong token: the step fails at once, and the results say why.
	os.WriteFile(filepath.Join(c.secret, "token"), []byte("wrong"), 0o600)
	code, log, results = c.taskRun(t, "acs-image-check", taskstep.Inputs{Params: map[string]string{"image": clean}})
	if code != cli.ExitError || results["gate"] != "error" || strings.Contains(log, token) {
		t.Fatalf("wrong token: exit %d\n%s", code, log)
	}
	if s := results["summary"]; !strings.Contains(strings.ToLower(s), "authenticat") || strings.Contains(s, token) {
		t.Errorf("summary = %q", s)
	}
}

func TestTaskACSDeploymentCheck(t *testing.T) {
	c := startCentral(t)
	ws := t.TempDir()
	os.MkdirAll(filepath.Join(ws, "serving"), 0o755)
	os.WriteFile(filepath.Join(ws, "serving", "isvc.yaml"), []byte(servingStack), 0o644)
	os.WriteFile(filepath.Join(ws, "privileged.yaml"), []byte(deployment(true)), 0o644)
	run := func(path string) (int, string, map[string]string) {
		return c.taskRun(t, "acs-deployment-check", taskstep.Inputs{
			Params: map[string]string{"manifests-path": path}, Workspaces: map[string]string{"manifests": ws}})
	}
	if code, log, results := run("serving"); code != cli.ExitOK || results["gate"] != "pass" {
		t.Fatalf("serving: exit %d\n%s", code, log)
	}
	if code, log, results := run("privileged.yaml"); code != cli.ExitDenied || results["breaking-policies"] != "Privileged Container" {
		t.Fatalf("privileged: exit %d\n%s", code, log)
	}
	if code, log, results := run("missing.yaml"); code != cli.ExitError || results["gate"] != "error" || !strings.Contains(log, "missing.yaml") {
		t.Fatalf("missing file: exit %d\n%s", code, log)
	}
}

// Every acs Task declares exactly the results of the custom task it
// mirrors, so swapping one for the other keeps $(tasks.x.results.y) valid.
func TestTaskResultsMatchKinds(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	for task, res := range map[string]results.Results{
		"acs-image-scan":       gate.ScanReport{}.Results(),
		"acs-image-check":      gate.DetectReport{}.Results(),
		"acs-deployment-check": gate.DetectReport{}.Results(),
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
