package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Versions of the binaries Ensure builds. The Kubernetes staging modules
// (k8s.io/api, k8s.io/client-go, ...) are published as v0.<minor>.<patch>.
const (
	KubernetesVersion        = "v1.36.3"
	KubernetesStagingVersion = "v0.36.3"
	EtcdVersion              = "v3.6.6"
	// TektonVersion is the Tekton Pipelines the project pins and the tests
	// run by default; Options.TektonVersion picks another of TektonVersions.
	TektonVersion = "v1.15.0"
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
	// PolicyControllerVersion is sigstore policy-controller, whose webhook
	// image PolicyControllerImage builds; its CRDs come from the module.
	PolicyControllerVersion = "v0.15.1"
	// KyvernoVersion is the Kyverno module whose published CRDs the
	// rendered ClusterPolicy is checked against (Kyverno itself is not run).
	KyvernoVersion = "v1.19.1"
	// OpenShiftAPIVersion is the openshift/api module (untagged: a
	// pseudo-version) of the ClusterImagePolicy/ImagePolicy CRDs; the
	// project's go.mod requires the same, for its Go types.
	OpenShiftAPIVersion = "v0.0.0-20260420151639-34e60874783e"
	// TriggersVersion is Tekton Triggers (EnsureTriggers). v0.37.0 is
	// served too; its sink crash-loops on an empty ClusterInterceptor
	// caBundle the same way, and v0.36.0 is the one checked to build.
	TriggersVersion = "v0.36.0"
	// KServeVersion is KServe's manager (EnsureKServe); v0.18.0 is refused
	// by the module proxy.
	KServeVersion = "v0.17.0"
)

// The Tekton Pipelines versions the e2e suite runs against: the pin, the
// newest the module proxy serves here (v1.16.0's zip is refused, 403), and
// the oldest the catalog's tekton.dev/pipelines.minVersion claims.
const (
	TektonNewest = "v1.15.1"
	TektonOldest = "v0.59.0"
)

// TektonVersions lists every Tekton version Options.TektonVersion accepts.
var TektonVersions = []string{TektonVersion, TektonNewest, TektonOldest}

// Tools holds the absolute paths of the built binaries.
type Tools struct {
	Etcd          string
	KubeAPIServer string
	Kubectl       string
	// TektonVersion is the version of TektonController and TektonResolvers.
	TektonVersion    string
	TektonController string
	// TektonResolvers is Tekton's remote resolution binary (git, bundles,
	// hub, cluster, http): built with Options.Resolvers only.
	TektonResolvers string
	Registry        string // CNCF distribution's registry

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
func toolsIn(root, tekton string) *Tools {
	bin := filepath.Join(root, "bin")
	return &Tools{
		Etcd:             filepath.Join(bin, "etcd-"+EtcdVersion),
		KubeAPIServer:    filepath.Join(bin, "kube-apiserver-"+KubernetesVersion),
		Kubectl:          filepath.Join(bin, "kubectl-"+KubernetesVersion),
		TektonVersion:    tekton,
		TektonController: filepath.Join(bin, "tekton-controller-"+tekton),
		TektonResolvers:  filepath.Join(bin, "tekton-resolvers-"+tekton),
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

// Options say which tools EnsureWith builds besides the control plane
// (etcd, kube-apiserver, kubectl, the Tekton controller, the registry).
type Options struct {
	// Node adds what a node needs: kubelet, kube-scheduler,
	// kube-controller-manager and ko.
	Node bool
	// Tkn adds tkn (~2 min on a new machine).
	Tkn bool
	// Resolvers adds Tekton's resolvers binary.
	Resolvers bool
	// Triggers adds Tekton Triggers' controller, sink and interceptors.
	Triggers bool
	// KServe adds KServe's manager.
	KServe bool
	// TektonVersion is one of TektonVersions; "" means TektonVersion.
	TektonVersion string
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
	return EnsureWith(ctx, log, Options{})
}

// EnsureNode is Ensure plus what a node needs: kubelet,
// kube-scheduler, kube-controller-manager and ko.
func EnsureNode(ctx context.Context, log io.Writer) (*Tools, error) {
	return EnsureWith(ctx, log, Options{Node: true})
}

// EnsureTkn is Ensure plus tkn (Tools.Tkn). Only tests that run tkn
// pay its build (~2 min on a new machine).
func EnsureTkn(ctx context.Context, log io.Writer) (*Tools, error) {
	return EnsureWith(ctx, log, Options{Tkn: true})
}

// EnsureTriggers is EnsureNode plus Tekton Triggers' controller,
// EventListener sink and core interceptors (~2 min on a new machine).
func EnsureTriggers(ctx context.Context, log io.Writer) (*Tools, error) {
	return EnsureWith(ctx, log, Options{Node: true, Triggers: true})
}

// EnsureKServe is EnsureNode plus KServe's manager (~2.5 min on a new
// machine).
func EnsureKServe(ctx context.Context, log io.Writer) (*Tools, error) {
	return EnsureWith(ctx, log, Options{Node: true, KServe: true})
}

// EnsureWith is Ensure plus what o asks for.
func EnsureWith(ctx context.Context, log io.Writer, o Options) (*Tools, error) {
	if log == nil {
		log = io.Discard
	}
	if o.TektonVersion == "" {
		o.TektonVersion = TektonVersion
	}
	if !slices.Contains(TektonVersions, o.TektonVersion) {
		return nil, fmt.Errorf("tekton %s: not one of the versions the tests run (%s)", o.TektonVersion, strings.Join(TektonVersions, ", "))
	}
	root, err := CacheRoot()
	if err != nil {
		return nil, err
	}
	t := toolsIn(root, o.TektonVersion)
	if t.missing(o) == nil {
		return t, nil
	}
	unlock, err := lockCache(ctx, root, log)
	if err != nil {
		return nil, err
	}
	defer unlock()

	// Another process may have built some binaries while we waited. The
	// Kubernetes binaries wanted and missing are built in one go build:
	// they share most packages, and a cached apiserver is not rebuilt.
	b := &builder{root: root, log: log}
	k8s := t.missingKubernetes(o.Node)
	tekton := t.missingTekton(o.Resolvers)
	steps := []struct {
		name   string
		needed bool
		build  func(context.Context, *Tools) error
	}{
		{"kubernetes " + KubernetesVersion, len(k8s) > 0, func(ctx context.Context, t *Tools) error {
			return b.buildKubernetes(ctx, k8s)
		}},
		{"etcd " + EtcdVersion, !exists(t.Etcd), b.buildEtcd},
		{"tekton " + o.TektonVersion, len(tekton) > 0, func(ctx context.Context, t *Tools) error {
			return b.buildTekton(ctx, o.TektonVersion, tekton)
		}},
		{"registry " + DistributionVersion, !exists(t.Registry), b.buildRegistry},
		{"ko " + KoVersion, o.Node && !exists(t.Ko), b.buildKo},
		{"tkn " + TknVersion, o.Tkn && !exists(t.Tkn), b.buildTkn},
		{"triggers " + TriggersVersion, o.Triggers && !exists(t.TriggersController, t.TriggersSink, t.TriggersInterceptors), b.buildTriggers},
		{"kserve manager " + KServeVersion, o.KServe && !exists(t.KServeManager), b.buildKServe},
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
	if err := t.missing(o); err != nil {
		return nil, err
	}
	return t, nil
}

// EnsureKo builds ko alone (for `make release`, which needs nothing else)
// and returns its path.
func EnsureKo(ctx context.Context, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	root, err := CacheRoot()
	if err != nil {
		return "", err
	}
	t := toolsIn(root, TektonVersion)
	if exists(t.Ko) {
		return t.Ko, nil
	}
	unlock, err := lockCache(ctx, root, log)
	if err != nil {
		return "", err
	}
	defer unlock()
	if !exists(t.Ko) {
		start := time.Now()
		if err := (&builder{root: root, log: log}).buildKo(ctx, t); err != nil {
			return "", fmt.Errorf("build ko %s: %w", KoVersion, err)
		}
		fmt.Fprintf(log, "tools: built ko %s in %s\n", KoVersion, time.Since(start).Round(time.Second))
	}
	return t.Ko, nil
}

// lockCache creates the cache dirs and takes the cache's build lock.
func lockCache(ctx context.Context, root string, log io.Writer) (func(), error) {
	for _, d := range []string{filepath.Join(root, "bin"), filepath.Join(root, "src")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create tool cache: %w", err)
		}
	}
	return lockFile(ctx, filepath.Join(root, ".lock"), log)
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

// missingTekton maps the import path of each wanted Tekton command whose
// binary is missing to that binary's path.
func (t *Tools) missingTekton(resolvers bool) map[string]string {
	want := map[string]string{tektonCmd("controller"): t.TektonController}
	if resolvers {
		want[tektonCmd("resolvers")] = t.TektonResolvers
	}
	for pkg, bin := range want {
		if exists(bin) {
			delete(want, pkg)
		}
	}
	return want
}

// missing returns an error naming the first binary o wants that does not
// exist.
func (t *Tools) missing(o Options) error {
	paths := []string{t.Etcd, t.KubeAPIServer, t.Kubectl, t.TektonController, t.Registry}
	if o.Node {
		paths = append(paths, t.Kubelet, t.KubeScheduler, t.KubeControllerManager, t.Ko)
	}
	if o.Tkn {
		paths = append(paths, t.Tkn)
	}
	if o.Resolvers {
		paths = append(paths, t.TektonResolvers)
	}
	if o.Triggers {
		paths = append(paths, t.TriggersController, t.TriggersSink, t.TriggersInterceptors)
	}
	if o.KServe {
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
