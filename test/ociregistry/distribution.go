package ociregistry

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/tools"
)

// Distribution is CNCF distribution's registry, the server most
// registries are built on, run as a process on loopback. The in-process
// registry above handles one upload at a time and buffers blobs in memory,
// so throughput figures are taken against this one.
type Distribution struct {
	Host string
	cmd  *exec.Cmd
	dir  string
}

// StartDistribution builds (once per machine) and starts a registry for a
// test, stopped when it ends.
func StartDistribution(t testing.TB) *Distribution {
	t.Helper()
	return StartDistributionIn(t, "")
}

// StartDistributionIn is StartDistribution with the registry's storage in
// a new directory under parent ("": tmpfs when there is one), e.g. on disk
// for a model bigger than memory allows twice.
func StartDistributionIn(t testing.TB, parent string) *Distribution {
	t.Helper()
	tools, err := tools.Ensure(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDistribution(tools.Registry, parent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// NewDistribution starts the registry binary with its storage on tmpfs
// (/dev/shm) when there is one, so a benchmark measures the registry and
// the client rather than the disk.
func NewDistribution(binary string) (*Distribution, error) {
	return newDistribution(binary, "")
}

func newDistribution(binary, parent string) (*Distribution, error) {
	if fi, err := os.Stat("/dev/shm"); parent == "" && err == nil && fi.IsDir() {
		parent = "/dev/shm"
	}
	dir, err := os.MkdirTemp(parent, "modelguard-registry-")
	if err != nil {
		return nil, err
	}
	port, err := localcluster.FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), host)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(config), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(binary, "serve", filepath.Join(dir, "config.yml"))
	// Distribution v3 exports traces to localhost:4318 by default; nothing
	// listens there, and the spans cost CPU a benchmark should not pay.
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start registry: %w", err)
	}
	log.Close()
	d := &Distribution{Host: host, cmd: cmd, dir: dir}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + host + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
	}
	d.Close()
	return nil, fmt.Errorf("registry on %s not ready within 20s", host)
}

// Pid is the registry process, e.g. to read its CPU time.
func (d *Distribution) Pid() int { return d.cmd.Process.Pid }

// Close stops the registry and removes its storage.
func (d *Distribution) Close() {
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Kill()
		_, _ = d.cmd.Process.Wait()
	}
	os.RemoveAll(d.dir)
}
