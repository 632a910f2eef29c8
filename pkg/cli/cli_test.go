package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Execute(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersionJSON(t *testing.T) {
	code, out, _ := run("version", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	var v versionReport
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.GoVersion == "" {
		t.Fatalf("output %q is not a version report: %v", out, err)
	}
}

func TestBadOutputFormatIsAnErrorNamingTheFlag(t *testing.T) {
	code, _, errOut := run("version", "--output", "yaml")
	if code != ExitError || !strings.Contains(errOut, `--output "yaml"`) {
		t.Fatalf("exit %d, stderr %q; want 1 naming --output", code, errOut)
	}
}

func TestUnknownCommandIsAnError(t *testing.T) {
	if code, _, _ := run("nope"); code != ExitError {
		t.Fatalf("exit %d; want %d", code, ExitError)
	}
}

func TestHelpEverywhere(t *testing.T) {
	root := NewRoot(&bytes.Buffer{}, &bytes.Buffer{})
	for _, c := range append(root.Commands(), root) {
		path := strings.Fields(c.CommandPath())[1:]
		code, out, _ := run(append(path, "--help")...)
		if code != ExitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("%v --help: exit %d, output %q", path, code, out)
		}
	}
}

func TestDeniedExitCode(t *testing.T) {
	var errb bytes.Buffer
	if code := exitCode(&DeniedError{Reason: "policy X"}, &errb); code != ExitDenied || !strings.Contains(errb.String(), "policy X") {
		t.Fatalf("exit %d, stderr %q; want %d naming the reason", code, errb.String(), ExitDenied)
	}
}
