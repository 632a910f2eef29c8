package buildtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/modelguard/modelguard/test/ociregistry"
	"github.com/modelguard/modelguard/test/taskstep"
)

// modelguardBinary builds cmd/modelguard once per test binary, into a
// directory anyone may read, so the tests can run it as an unprivileged
// user like a Task step. TestMain removes it.
func modelguardBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "modelguard-bin-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			binary.err = err
			return
		}
		binary.dir = dir
		_, file, _, _ := runtime.Caller(0)
		bin := filepath.Join(dir, "modelguard")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/modelguard")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("build modelguard: %v\n%s", err, out)
			return
		}
		binary.path = bin
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

var binary struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// runCLI runs the modelguard binary and returns its exit code, stdout and
// stderr.
func runCLI(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	return runAs(t, nil, nil, bin, args...)
}

// runAs runs the binary with env (nil: the test's) and, when cred is set,
// as that user.
func runAs(t *testing.T, cred *syscall.Credential, env []string, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	cmd.Env = env
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
		return runAs(t, nobody, []string{"HOME=" + work, "PATH=/usr/bin:/bin", "SOURCE_DATE_EPOCH=1735689600"}, bin, args...)
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
	stepArgs := func(params map[string]string) []string {
		t.Helper()
		for k, v := range map[string]string{"image": reg.Host + "/models/granite:task", "base-image": base, "runtime": "vllm",
			"layer-threshold": "100Ki", "source-date-epoch": "1735689600", "modelguard-image": "unused@sha256:0"} {
			if _, set := params[k]; !set {
				params[k] = v
			}
		}
		args, err := taskstep.Args(task, 0, params, map[string]string{"model": modelWS, "output": outputWS})
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range args {
			args[i] = strings.Replace(a, "--results-dir=/tekton/results", "--results-dir="+results, 1)
			args[i] = strings.Replace(args[i], "--cache-dir=/tmp/", "--cache-dir="+home+"/", 1)
		}
		return args
	}
	env := []string{"HOME=" + home, "DOCKER_CONFIG=", "PATH=/usr/bin:/bin"}
	if code, out, errOut := runAs(t, nobody, env, bin, stepArgs(map[string]string{"model-path": "granite"})...); code != 0 {
		t.Fatalf("task step: exit %d\n%s\n%s", code, out, errOut)
	}
	digest, _ := os.ReadFile(filepath.Join(results, "IMAGE_DIGEST"))
	url, _ := os.ReadFile(filepath.Join(results, "IMAGE_URL"))
	if !strings.HasPrefix(string(digest), "sha256:") || string(url) != reg.Host+"/models/granite:task" {
		t.Fatalf("results: IMAGE_URL=%q IMAGE_DIGEST=%q", url, digest)
	}
	if _, err := os.Stat(filepath.Join(outputWS, "mlbom.cdx.json")); err != nil {
		t.Fatalf("ML-BOM not in the output workspace: %v", err)
	}

	// model-path leading out of the model workspace, to where the
	// dockerconfig workspace would be mounted: refused, with the engine's
	// message (TestModelOutsideWithinIsRefused), empty results, no push.
	writeModel(t, filepath.Join(work, "dockerconfig"), map[string]string{"config.json": `{"auths":{}}`})
	openToAll(t, filepath.Join(work, "dockerconfig"))
	reg.Reset()
	code, _, errOut := runAs(t, nobody, env, bin, stepArgs(map[string]string{"model-path": "../dockerconfig", "runtime": "none",
		"image": reg.Host + "/models/granite:escape"})...)
	if code != 1 || !strings.Contains(errOut, "is outside "+modelWS) {
		t.Fatalf("model-path ../dockerconfig: exit %d, stderr %q", code, errOut)
	}
	if n := reg.BlobPuts() + reg.ManifestPuts("models/granite"); n != 0 {
		t.Fatalf("pushed %d objects from outside the workspace", n)
	}
	for _, r := range []string{"IMAGE_URL", "IMAGE_DIGEST", "STORAGE_URI"} {
		if b, err := os.ReadFile(filepath.Join(results, r)); err != nil || len(b) != 0 {
			t.Errorf("result %s after a refused build: %q %v", r, b, err)
		}
	}
}

var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

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
