package tools

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleDir returns the module cache dir of module@version. The project's
// own module graph is asked first (no download); another version there, or
// no checkout around the working dir, falls back to the module proxy.
func ModuleDir(ctx context.Context, module, version string) (string, error) {
	if root := RepoRoot(); root != "" {
		cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}} {{.Dir}}", module)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.Output(); err == nil {
			v, dir, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
			if v == version && dir != "" {
				return dir, nil
			}
		}
	}
	tmp, err := os.MkdirTemp("", "tools-download-")
	if err != nil {
		return "", fmt.Errorf("find %s: %w", module, err)
	}
	defer os.RemoveAll(tmp)
	// Outside any module, go mod download only fills the module cache.
	cmd := goCommand(ctx, tmp, "mod", "download", "-json", module+"@"+version)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("download %s@%s: %w: %s", module, version, err, strings.TrimSpace(stderr.String()))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("parse go mod download output: %w", err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("download %s@%s: %s", module, version, info.Error)
	}
	return info.Dir, nil
}

// RepoRoot walks up from the working dir to the go.mod of
// github.com/modelguard/modelguard; "" if there is none.
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			isOurs := false
			for sc.Scan() {
				if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "module ") {
					isOurs = strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "module ")), `"`) == "github.com/modelguard/modelguard"
					break
				}
			}
			f.Close()
			if isOurs {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
