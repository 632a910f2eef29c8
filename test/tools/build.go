package tools

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// builder builds the tools in small wrapper modules under <root>/src. Each
// tool gets its own module because their dependency graphs differ from the
// project's and from each other (kubernetes pins its own client-go, etcd its
// own grpc, ...).
type builder struct {
	root string
	log  io.Writer
}

// k8sLdflags stamps the version: without it the binaries report
// "v0.0.0-master+$Format:%H$", which knative's minimum-version check in the
// Tekton controller rejects.
const k8sLdflags = "-s -w" +
	" -X k8s.io/component-base/version.gitVersion=" + KubernetesVersion +
	" -X k8s.io/component-base/version.gitMajor=1" +
	" -X k8s.io/component-base/version.gitMinor=36"

// kubernetesCommands are the commands the wrapper module imports. All of
// them, even when only some are built: then go.mod and go.sum stay the same
// whichever binaries a run happens to miss.
var kubernetesCommands = []string{
	"k8s.io/kubernetes/cmd/kube-apiserver",
	"k8s.io/kubernetes/cmd/kube-controller-manager",
	"k8s.io/kubernetes/cmd/kube-scheduler",
	"k8s.io/kubernetes/cmd/kubectl",
	"k8s.io/kubernetes/cmd/kubelet",
}

// buildKubernetes builds pkgs (import path → binary path), a subset of
// kubernetesCommands.
func (b *builder) buildKubernetes(ctx context.Context, pkgs map[string]string) error {
	fmt.Fprintf(b.log, "tools: building %s %s (first run on this machine, ~3-5 min)\n", strings.Join(sortedBase(pkgs), ", "), KubernetesVersion)
	dir, err := b.wrapperDir("kubernetes-" + KubernetesVersion)
	if err != nil {
		return err
	}
	// k8s.io/kubernetes replaces its staging modules with ./staging/...
	// paths, which mean nothing to a module that requires it. Read its
	// go.mod and point each of them at the published staging version.
	if err := writeFile(dir, "go.mod", "module modelguard.local/tools/kubernetes\n\ngo 1.26\n"); err != nil {
		return err
	}
	gomod, err := b.downloadGoMod(ctx, dir, "k8s.io/kubernetes@"+KubernetesVersion)
	if err != nil {
		return err
	}
	staging, err := localReplaces(gomod)
	if err != nil {
		return err
	}
	if len(staging) == 0 {
		return fmt.Errorf("found no ./staging replace directives in k8s.io/kubernetes go.mod")
	}
	var mod strings.Builder
	fmt.Fprintf(&mod, "module modelguard.local/tools/kubernetes\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n", KubernetesVersion)
	for _, m := range staging {
		fmt.Fprintf(&mod, "\t%s => %s %s\n", m, m, KubernetesStagingVersion)
	}
	mod.WriteString(")\n")
	if err := writeFile(dir, "go.mod", mod.String()); err != nil {
		return err
	}
	var imports strings.Builder
	for _, c := range kubernetesCommands {
		fmt.Fprintf(&imports, "\t_ %q\n", c)
	}
	if err := writeFile(dir, "tools.go", "//go:build tools\n\npackage tools\n\nimport (\n"+imports.String()+")\n"); err != nil {
		return err
	}
	// -e: kubernetes has test-only imports the proxy cannot resolve; they
	// do not matter for the commands we build.
	if err := b.goCmd(ctx, dir, "tidy", "mod", "tidy", "-e"); err != nil {
		return err
	}
	// One build for all: they share most packages, and one go build
	// schedules the compile actions of all over all cores.
	return b.buildInto(ctx, dir, []string{"-ldflags", k8sLdflags}, pkgs)
}

func (b *builder) buildEtcd(ctx context.Context, t *Tools) error {
	fmt.Fprintf(b.log, "tools: building etcd %s (first run on this machine, ~1 min)\n", EtcdVersion)
	dir, err := b.wrapperDir("etcd-" + EtcdVersion)
	if err != nil {
		return err
	}
	// Debian's etcd is 3.4, too old for kube-apiserver 1.36; etcd's own
	// main package is tiny, so wrap etcdmain.
	if err := writeFile(dir, "go.mod", "module modelguard.local/tools/etcd\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 "+EtcdVersion+"\n"); err != nil {
		return err
	}
	if err := writeFile(dir, "main.go", "package main\n\nimport (\n\t\"os\"\n\n\t\"go.etcd.io/etcd/server/v3/etcdmain\"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n"); err != nil {
		return err
	}
	if err := b.goCmd(ctx, dir, "tidy", "mod", "tidy"); err != nil {
		return err
	}
	return b.buildInto(ctx, dir, []string{"-ldflags", "-s -w"}, map[string]string{".": t.Etcd})
}

// tektonCmds are the Tekton commands run as processes; the wrapper module
// imports all of them, so its go.mod is the same whichever are built.
var tektonCmds = []string{"controller", "resolvers"}

func tektonCmd(name string) string { return "github.com/tektoncd/pipeline/cmd/" + name }

// buildTekton builds pkgs (import path → binary path), Tekton commands of
// version, in one go build.
func (b *builder) buildTekton(ctx context.Context, version string, pkgs map[string]string) error {
	fmt.Fprintf(b.log, "tools: building tekton %s %s (first run on this machine, ~2 min)\n", strings.Join(sortedBase(pkgs), ", "), version)
	dir, err := b.wrapperDir("tekton-pipeline-" + version)
	if err != nil {
		return err
	}
	var cmds []string
	for _, c := range tektonCmds {
		cmds = append(cmds, tektonCmd(c))
	}
	if err := b.writeWrapper(ctx, dir, "tekton-pipeline", "github.com/tektoncd/pipeline", version, cmds...); err != nil {
		return err
	}
	return b.buildInto(ctx, dir, []string{"-ldflags", "-s -w"}, pkgs)
}

// sortedBase returns the last elements of the keys of pkgs, sorted.
func sortedBase(pkgs map[string]string) []string {
	var names []string
	for p := range pkgs {
		names = append(names, filepath.Base(p))
	}
	sort.Strings(names)
	return names
}

func (b *builder) buildRegistry(ctx context.Context, t *Tools) error {
	return b.buildCommand(ctx, "registry (distribution)", "distribution", "github.com/distribution/distribution/v3", DistributionVersion,
		"github.com/distribution/distribution/v3/cmd/registry", t.Registry, "~1 min")
}

// buildKo builds ko from its own module: it has no replace directives, but
// its dependency graph is its own.
func (b *builder) buildKo(ctx context.Context, t *Tools) error {
	return b.buildCommand(ctx, "ko", "ko", "github.com/google/ko", KoVersion, "github.com/google/ko", t.Ko, "~1 min")
}

// buildCommand builds one command of a module in a wrapper module that
// requires it and imports the command from a tools file, so the module's
// own go.mod decides every dependency version.
func (b *builder) buildCommand(ctx context.Context, what, dirName, module, version, cmdPath, out, took string) error {
	fmt.Fprintf(b.log, "tools: building %s %s (first run on this machine, %s)\n", what, version, took)
	dir, err := b.wrapperDir(dirName + "-" + version)
	if err != nil {
		return err
	}
	if err := b.writeWrapper(ctx, dir, dirName, module, version, cmdPath); err != nil {
		return err
	}
	return b.buildInto(ctx, dir, []string{"-ldflags", "-s -w"}, map[string]string{cmdPath: out})
}

// writeWrapper writes and tidies a wrapper module in dir that requires
// module@version and imports cmds from a tools file.
func (b *builder) writeWrapper(ctx context.Context, dir, name, module, version string, cmds ...string) error {
	if err := writeFile(dir, "go.mod", "module modelguard.local/tools/"+name+"\n\ngo 1.26\n\nrequire "+module+" "+version+"\n"); err != nil {
		return err
	}
	var imports strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&imports, "\t_ %q\n", c)
	}
	if err := writeFile(dir, "tools.go", "//go:build tools\n\npackage tools\n\nimport (\n"+imports.String()+")\n"); err != nil {
		return err
	}
	return b.goCmd(ctx, dir, "tidy", "mod", "tidy")
}

// wrapperDir creates <root>/src/<name>. A go.sum left by an earlier
// (possibly killed) run is kept: it only saves downloads.
func (b *builder) wrapperDir(name string) (string, error) {
	dir := filepath.Join(b.root, "src", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create wrapper module: %w", err)
	}
	return dir, nil
}

// buildInto builds every package of pkgs (import path → final binary path)
// in one go build into a temporary directory next to the binaries, then
// renames each into place, so a killed build never leaves a half binary
// under a final name.
func (b *builder) buildInto(ctx context.Context, dir string, flags []string, pkgs map[string]string) error {
	tmp, err := os.MkdirTemp(filepath.Join(b.root, "bin"), ".build-")
	if err != nil {
		return fmt.Errorf("create build dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	args := append([]string{"build"}, flags...)
	// "-o dir/" writes one binary per main package, named after the last
	// element of its import path; a single package is written to a file.
	out := tmp + string(filepath.Separator)
	if len(pkgs) == 1 {
		out = filepath.Join(tmp, "bin")
	}
	args = append(args, "-o", out)
	names := make([]string, 0, len(pkgs))
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	args = append(args, names...)
	if err := b.goCmd(ctx, dir, "build", args...); err != nil {
		return err
	}
	for _, p := range names {
		built := filepath.Join(tmp, "bin")
		if len(pkgs) > 1 {
			built = filepath.Join(tmp, filepath.Base(p))
		}
		if err := os.Rename(built, pkgs[p]); err != nil {
			return fmt.Errorf("install %s: %w", filepath.Base(pkgs[p]), err)
		}
	}
	return nil
}

// downloadGoMod downloads module@version and returns the contents of its
// go.mod file from the module cache.
func (b *builder) downloadGoMod(ctx context.Context, dir, modVersion string) ([]byte, error) {
	var stdout bytes.Buffer
	cmd := goCommand(ctx, dir, "mod", "download", "-json", modVersion)
	cmd.Stdout = &stdout
	stderr := newPrefixWriter(b.log, "  go mod download| ")
	cmd.Stderr = stderr
	err := cmd.Run()
	stderr.Flush()
	if err != nil {
		return nil, fmt.Errorf("go mod download %s: %w", modVersion, err)
	}
	var info struct{ GoMod, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil {
		return nil, fmt.Errorf("parse go mod download output: %w", err)
	}
	if info.Error != "" {
		return nil, fmt.Errorf("go mod download %s: %s", modVersion, info.Error)
	}
	data, err := os.ReadFile(info.GoMod)
	if err != nil {
		return nil, fmt.Errorf("read go.mod of %s: %w", modVersion, err)
	}
	return data, nil
}

// localReplaces returns the modules a go.mod replaces with a local
// directory ("k8s.io/api => ./staging/src/k8s.io/api"), sorted. It reads
// both the one-line and the block form of replace.
func localReplaces(gomod []byte) ([]string, error) {
	var mods []string
	inBlock := false
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "replace (":
			inBlock = true
			continue
		case inBlock && line == ")":
			inBlock = false
			continue
		case strings.HasPrefix(line, "replace "):
			line = strings.TrimSpace(strings.TrimPrefix(line, "replace "))
		case !inBlock:
			continue
		}
		left, right, ok := strings.Cut(line, "=>")
		if !ok {
			continue
		}
		target := strings.TrimSpace(right)
		if strings.HasPrefix(target, "./") || strings.HasPrefix(target, "../") {
			if f := strings.Fields(left); len(f) > 0 {
				mods = append(mods, f[0])
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read go.mod: %w", err)
	}
	sort.Strings(mods)
	return mods, nil
}

// goCmd runs the go command in dir with its output prefixed into the log.
func (b *builder) goCmd(ctx context.Context, dir, tag string, args ...string) error {
	w := newPrefixWriter(b.log, "  go "+tag+"| ")
	defer w.Flush()
	cmd := goCommand(ctx, dir, args...)
	cmd.Stdout = w
	cmd.Stderr = w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s (in %s): %w", strings.Join(args, " "), dir, err)
	}
	return nil
}

// goCommand prepares a go command for a wrapper module: GOWORK=off so a
// go.work around the cache cannot interfere, -mod=mod so go.mod/go.sum may
// be updated, -buildvcs=false since the cache is no VCS checkout.
func goCommand(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off")
	return cmd
}

func writeFile(dir, name, content string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// prefixWriter writes every line it is given to w with a prefix. It keeps a
// partial last line until the next newline or Flush.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func newPrefixWriter(w io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{w: w, prefix: prefix}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i]); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// Flush writes a pending partial line.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.buf = nil
	}
}
