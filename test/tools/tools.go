package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Versions of the binaries Ensure builds. The Kubernetes staging modules
// (k8s.io/api, k8s.io/client-go, ...) are published as v0.<minor>.<patch>.
const (
	KubernetesVersion        = "v1.36.3"
	KubernetesStagingVersion = "v0.36.3"
	EtcdVersion              = "v3.6.6"
	TektonVersion            = "v1.15.0"
	// DistributionVersion is the OCI registry (CNCF distribution) used where
	// a test needs a registry that behaves, and performs, like a real one.
	DistributionVersion = "v3.0.0"
	// KoVersion builds Tekton's step images (and the project's) without a
	// Docker daemon.
	KoVersion = "v0.18.0"
	// ChainsVersion is Tekton Chains, whose controller image InstallChains
	// builds with ko (EnsureChainsImage).
	ChainsVersion = "v0.26.2"
	// TknVersion is Tekton's CLI (EnsureTkn). v0.42.0 does not build from
	// the module proxy (it needs modules the proxy refuses).
	TknVersion = "v0.46.0"
	// TriggersVersion is Tekton Triggers (EnsureTriggers). v0.37.0 is
	// served too; its sink crash-loops on an empty ClusterInterceptor
	// caBundle the same way, and v0.36.0 is the one checked to build.
	TriggersVersion = "v0.36.0"
	// KServeVersion is KServe's manager (EnsureKServe); v0.18.0 is refused
	// by the module proxy.
	KServeVersion = "v0.17.0"
)

// Tools holds the absolute paths of the built binaries.
type Tools struct {
	Etcd             string
	KubeAPIServer    string
	Kubectl          string
	TektonController string
	Registry         string // CNCF distribution's registry

	// Node tools: built by EnsureNode only (Config.Node).
	Kubelet               string
	KubeScheduler         string
	KubeControllerManager string
	Ko                    string

	// Tkn is Tekton's CLI: built by EnsureTkn only.
	Tkn string

	// Tekton Triggers' controller, EventListener sink and core
	// interceptors: built by EnsureTriggers only.
	TriggersController   string
	TriggersSink         string
	TriggersInterceptors string

	// KServeManager is KServe's controller manager (its InferenceService
	// reconciler and pod webhook): built by EnsureKServe only.
	KServeManager string
}

// extras are the tools beyond the control plane a caller wants.
type extras struct{ node, tkn, triggers, kserve bool }

// CacheRoot returns the directory the tools are cached in:
// $MODELGUARD_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/modelguard.
func CacheRoot() (string, error) {
	if d := os.Getenv("MODELGUARD_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find cache dir: %w (set MODELGUARD_CACHE)", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "modelguard"), nil
}

// toolsIn returns where the binaries live under the cache root. The version
// is part of each name, so a version bump builds anew and never reuses a
// stale binary.
func toolsIn(root string) *Tools {
	bin := filepath.Join(root, "bin")
	return &Tools{
		Etcd:             filepath.Join(bin, "etcd-"+EtcdVersion),
		KubeAPIServer:    filepath.Join(bin, "kube-apiserver-"+KubernetesVersion),
		Kubectl:          filepath.Join(bin, "kubectl-"+KubernetesVersion),
		TektonController: filepath.Join(bin, "tekton-controller-"+TektonVersion),
		Registry:         filepath.Join(bin, "registry-"+DistributionVersion),

		Kubelet:               filepath.Join(bin, "kubelet-"+KubernetesVersion),
		KubeScheduler:         filepath.Join(bin, "kube-scheduler-"+KubernetesVersion),
		KubeControllerManager: filepath.Join(bin, "kube-controller-manager-"+KubernetesVersion),
		Ko:                    filepath.Join(bin, "ko-"+KoVersion),

		Tkn: filepath.Join(bin, "tkn-"+TknVersion),

		TriggersController:   filepath.Join(bin, "triggers-controller-"+TriggersVersion),
		TriggersSink:         filepath.Join(bin, "triggers-eventlistenersink-"+TriggersVersion),
		TriggersInterceptors: filepath.Join(bin, "triggers-interceptors-"+TriggersVersion),
		KServeManager:        filepath.Join(bin, "kserve-manager-"+KServeVersion),
	}
}

// Ensure returns the paths of etcd, kube-apiserver, kubectl, the
// Tekton controller and the registry, building whichever is missing. Build
// output goes to log (nil discards it). If every binary is cached it returns
// at once. The node tools in Tools are set but may not exist yet; see
// EnsureNode.
//
// Two processes (e.g. test binaries of different packages) may call it at
// the same time: building happens under an exclusive flock on <root>/.lock,
// and each binary is written under a temporary name and renamed into place,
// so nobody ever sees a half-written binary.
func Ensure(ctx context.Context, log io.Writer) (*Tools, error) {
	return ensureTools(ctx, log, extras{})
}

// EnsureNode is Ensure plus what a node needs: kubelet,
// kube-scheduler, kube-controller-manager and ko.
func EnsureNode(ctx context.Context, log io.Writer) (*Tools, error) {
	return ensureTools(ctx, log, extras{node: true})
}

// EnsureTkn is Ensure plus tkn (Tools.Tkn). Only tests that run tkn
// pay its build (~2 min on a new machine).
func EnsureTkn(ctx context.Context, log io.Writer) (*Tools, error) {
	return ensureTools(ctx, log, extras{tkn: true})
}

// EnsureTriggers is EnsureNode plus Tekton Triggers' controller,
// EventListener sink and core interceptors (~2 min on a new machine).
func EnsureTriggers(ctx context.Context, log io.Writer) (*Tools, error) {
	return ensureTools(ctx, log, extras{node: true, triggers: true})
}

// EnsureKServe is EnsureNode plus KServe's manager (~2.5 min on a new
// machine).
func EnsureKServe(ctx context.Context, log io.Writer) (*Tools, error) {
	return ensureTools(ctx, log, extras{node: true, kserve: true})
}

func ensureTools(ctx context.Context, log io.Writer, want extras) (*Tools, error) {
	node, tkn := want.node, want.tkn
	if log == nil {
		log = io.Discard
	}
	root, err := CacheRoot()
	if err != nil {
		return nil, err
	}
	t := toolsIn(root)
	if t.missing(want) == nil {
		return t, nil
	}
	for _, d := range []string{filepath.Join(root, "bin"), filepath.Join(root, "src")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create tool cache: %w", err)
		}
	}
	unlock, err := lockFile(ctx, filepath.Join(root, ".lock"), log)
	if err != nil {
		return nil, err
	}
	defer unlock()

	// Another process may have built some binaries while we waited. The
	// Kubernetes binaries wanted and missing are built in one go build:
	// they share most packages, and a cached apiserver is not rebuilt.
	b := &builder{root: root, log: log}
	k8s := t.missingKubernetes(node)
	steps := []struct {
		name   string
		needed bool
		build  func(context.Context, *Tools) error
	}{
		{"kubernetes " + KubernetesVersion, len(k8s) > 0, func(ctx context.Context, t *Tools) error {
			return b.buildKubernetes(ctx, k8s)
		}},
		{"etcd " + EtcdVersion, !exists(t.Etcd), b.buildEtcd},
		{"tekton controller " + TektonVersion, !exists(t.TektonController), b.buildTekton},
		{"registry " + DistributionVersion, !exists(t.Registry), b.buildRegistry},
		{"ko " + KoVersion, node && !exists(t.Ko), b.buildKo},
		{"tkn " + TknVersion, tkn && !exists(t.Tkn), b.buildTkn},
		{"triggers " + TriggersVersion, want.triggers && !exists(t.TriggersController, t.TriggersSink, t.TriggersInterceptors), b.buildTriggers},
		{"kserve manager " + KServeVersion, want.kserve && !exists(t.KServeManager), b.buildKServe},
	}
	for _, s := range steps {
		if !s.needed {
			continue
		}
		start := time.Now()
		if err := s.build(ctx, t); err != nil {
			return nil, fmt.Errorf("build %s: %w", s.name, err)
		}
		fmt.Fprintf(log, "tools: built %s in %s\n", s.name, time.Since(start).Round(time.Second))
	}
	if err := t.missing(want); err != nil {
		return nil, err
	}
	return t, nil
}

// missingKubernetes maps the import path of each wanted Kubernetes command
// whose binary is missing to that binary's path.
func (t *Tools) missingKubernetes(node bool) map[string]string {
	want := map[string]string{
		"k8s.io/kubernetes/cmd/kube-apiserver": t.KubeAPIServer,
		"k8s.io/kubernetes/cmd/kubectl":        t.Kubectl,
	}
	if node {
		want["k8s.io/kubernetes/cmd/kubelet"] = t.Kubelet
		want["k8s.io/kubernetes/cmd/kube-scheduler"] = t.KubeScheduler
		want["k8s.io/kubernetes/cmd/kube-controller-manager"] = t.KubeControllerManager
	}
	for pkg, bin := range want {
		if exists(bin) {
			delete(want, pkg)
		}
	}
	return want
}

// missing returns an error naming the first wanted binary that does not
// exist.
func (t *Tools) missing(want extras) error {
	paths := []string{t.Etcd, t.KubeAPIServer, t.Kubectl, t.TektonController, t.Registry}
	if want.node {
		paths = append(paths, t.Kubelet, t.KubeScheduler, t.KubeControllerManager, t.Ko)
	}
	if want.tkn {
		paths = append(paths, t.Tkn)
	}
	if want.triggers {
		paths = append(paths, t.TriggersController, t.TriggersSink, t.TriggersInterceptors)
	}
	if want.kserve {
		paths = append(paths, t.KServeManager)
	}
	for _, p := range paths {
		if !exists(p) {
			return fmt.Errorf("tool %s is missing", p)
		}
	}
	return nil
}

// exists says whether every path is a regular file.
func exists(paths ...string) bool {
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// lockFile takes an exclusive flock on path, polling so that ctx can cancel
// the wait. The returned func releases it.
func lockFile(ctx context.Context, path string, log io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !said {
			fmt.Fprintf(log, "tools: waiting for another process building tools (lock %s)\n", path)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for tool lock: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
