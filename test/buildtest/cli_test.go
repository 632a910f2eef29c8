package buildtest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/modelguard/modelguard/test/ociregistry"
	"github.com/modelguard/modelguard/test/taskstep"
)

// modelguardBinary builds cmd/modelguard once into a directory anyone may
// read, so the tests can run it as an unprivileged user like a Task step.
func modelguardBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "modelguard-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(dir, "modelguard")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/modelguard")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build modelguard: %v\n%s", err, out)
	}
	return bin
}

// The CLI door, run as nobody (uid 65534) as a restricted Task step is:
// Tekton results are written, and a file the user cannot read is named in
// a clear error before anything is pushed.
func TestCLIAsUnprivilegedUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to start a process as another user")
	}
	reg := ociregistry.Start(t)
	base := pushBase(t, reg)
	bin := modelguardBinary(t)
	work, err := os.MkdirTemp("", "modelguard-model-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	model, results := filepath.Join(work, "granite"), filepath.Join(work, "results")
	writeModel(t, model, granite)
	openToAll(t, work, model, results)
	run := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Env = []string{"HOME=" + work, "PATH=/usr/bin:/bin", "SOURCE_DATE_EPOCH=1735689600"}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	args := []string{"build", "--model", model, "--base", base, "--target", reg.Host + "/models/granite:cli",
		"--runtime", "vllm", "--layer-threshold", "100k", "--cache-dir", "", "--results-dir", results, "-o", "json"}
	code, out, errOut := run(args...)
	if code != 0 {
		t.Fatalf("build as nobody: exit %d\n%s\n%s", code, out, errOut)
	}
	var res struct{ IMAGE_URL, IMAGE_DIGEST, StorageURI string }
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.IMAGE_URL != reg.Host+"/models/granite:cli" {
		t.Fatalf("output %q: %v", out, err)
	}
	for name, want := range map[string]string{"IMAGE_URL": res.IMAGE_URL, "IMAGE_DIGEST": res.IMAGE_DIGEST, "STORAGE_URI": res.StorageURI} {
		if b, err := os.ReadFile(filepath.Join(results, name)); err != nil || string(b) != want {
			t.Errorf("result %s = %q (%v); want %q", name, b, err, want)
		}
	}

	secret := filepath.Join(model, "tokenizer.json")
	if err := os.Chmod(secret, 0o000); err != nil {
		t.Fatal(err)
	}
	reg.Reset()
	args[6] = reg.Host + "/models/granite:unreadable"
	code, _, errOut = run(args...)
	if code != 1 || !strings.Contains(errOut, "tokenizer.json: cannot be read") {
		t.Fatalf("unreadable file: exit %d, stderr %q", code, errOut)
	}
	if n := reg.BlobPuts() + reg.ManifestPuts("models/granite"); n != 0 {
		t.Fatalf("pushed %d objects despite an unreadable file", n)
	}
}

// The model-image-build Task's step, with the args Tekton would pass
// (params and workspace paths substituted), run as nobody: results and the
// ML-BOM land where the Task says.
func TestModelImageBuildTaskStep(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to start a process as another user")
	}
	reg := ociregistry.Start(t)
	base := pushBase(t, reg)
	bin := modelguardBinary(t)
	work, err := os.MkdirTemp("", "modelguard-task-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	modelWS, outputWS, results, home := filepath.Join(work, "model"), filepath.Join(work, "output"), filepath.Join(work, "results"), filepath.Join(work, "home")
	writeModel(t, filepath.Join(modelWS, "granite"), granite)
	openToAll(t, work, outputWS, results, home)
	_, file, _, _ := runtime.Caller(0)
	task, err := taskstep.Load(filepath.Join(filepath.Dir(file), "..", "..", "tasks", "model-image-build", "0.1", "model-image-build.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	args, err := taskstep.Args(task, 0, map[string]string{
		"image": reg.Host + "/models/granite:task", "base-image": base, "model-path": "granite", "runtime": "vllm",
		"layer-threshold": "100Ki", "source-date-epoch": "1735689600", "modelguard-image": "unused@sha256:0",
	}, map[string]string{"model": modelWS, "output": outputWS})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		args[i] = strings.Replace(a, "--results-dir=/tekton/results", "--results-dir="+results, 1)
		args[i] = strings.Replace(args[i], "--cache-dir=/tmp/", "--cache-dir="+home+"/", 1)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Env = []string{"HOME=" + home, "DOCKER_CONFIG=", "PATH=/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("task step: %v\n%s", err, out)
	}
	digest, _ := os.ReadFile(filepath.Join(results, "IMAGE_DIGEST"))
	url, _ := os.ReadFile(filepath.Join(results, "IMAGE_URL"))
	if !strings.HasPrefix(string(digest), "sha256:") || string(url) != reg.Host+"/models/granite:task" {
		t.Fatalf("results: IMAGE_URL=%q IMAGE_DIGEST=%q", url, digest)
	}
	if _, err := os.Stat(filepath.Join(outputWS, "mlbom.cdx.json")); err != nil {
		t.Fatalf("ML-BOM not in the output workspace: %v", err)
	}
}

// openToAll creates dirs writable by anyone, so a step running as another
// user can use them, as a Task's emptyDir and workspaces are.
func openToAll(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
}
