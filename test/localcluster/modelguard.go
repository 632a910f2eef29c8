package localcluster

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/tools"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// ModelguardOptions say how InstallModelguard runs the controller.
type ModelguardOptions struct {
	// Controller is the controller's argv (binary and flags). Empty builds
	// ./cmd/controller from the checkout (BuildController); the e2e tests
	// build and pass their own, which adds a test-only kind.
	Controller []string
	// Env is added to the controller's environment.
	Env []string
	// NoKServeStandIns leaves out the KServe CRD stand-ins: for a cluster
	// that runs KServe itself (InstallKServe installs the real CRDs), or
	// where a deploy must not take the stand-ins for an installed KServe
	// (model-deploy's target auto asks the API server).
	NoKServeStandIns bool
}

// InstallModelguard installs modelguard as a cluster admin would — config/
// applied with kubectl (namespace, RBAC, persona roles, configuration) and
// the KServe CRD stand-ins the persona roles and tests name — and starts
// the controller out of cluster under its ServiceAccount's identity, so
// everything run against it also proves that config/'s RBAC is enough.
// config/'s own Deployment is scaled to zero: its image is a ko:// path.
func (c *Cluster) InstallModelguard(ctx context.Context, o ModelguardOptions) (*Controller, error) {
	root := tools.RepoRoot()
	if root == "" {
		return nil, fmt.Errorf("install modelguard: no modelguard checkout around the working dir")
	}
	steps := [][]string{
		{"apply", "-k", filepath.Join(root, "config")},
		{"-n", ControllerNamespace, "scale", "deployment", "modelguard-controller", "--replicas=0"},
	}
	if !o.NoKServeStandIns {
		steps = append(steps, []string{"apply", "-f", kserveStandIns()})
	}
	for _, args := range steps {
		if out, err := c.Kubectl(ctx, UserAdmin, args...); err != nil {
			return nil, fmt.Errorf("install modelguard: kubectl %v: %w\n%s", args, err, out)
		}
	}
	if err := c.waitForAdmissionPolicies(ctx); err != nil {
		return nil, fmt.Errorf("install modelguard: %w", err)
	}
	argv := o.Controller
	if len(argv) == 0 {
		bin, err := c.BuildController(ctx, "./cmd/controller")
		if err != nil {
			return nil, fmt.Errorf("install modelguard: %w", err)
		}
		argv = []string{bin}
	}
	return c.StartController(ctx, "modelguard-controller", argv, o.Env...)
}

// BuildController builds the main package pkg of the checkout (a path
// like ./cmd/controller) into the cluster's directory and returns the
// binary's path.
func (c *Cluster) BuildController(ctx context.Context, pkg string) (string, error) {
	root := tools.RepoRoot()
	if root == "" {
		return "", fmt.Errorf("build %s: no modelguard checkout around the working dir", pkg)
	}
	bin := filepath.Join(c.Dir, "bin", filepath.Base(pkg))
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// kserveStandIns are the KServe CRDs (InferenceService, ServingRuntime) in
// the shape the persona roles and the deploy checks need, without KServe.
func kserveStandIns() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "kserve-crds.yaml")
}

// InstallModelguardRelease installs modelguard from a release the way its
// README says, `kubectl apply -f release.yaml`, and waits until the controller Deployment has rolled out:
// every replica Ready, in cluster, on the pod network. A namespace
// "modelguard" made beforehand (e.g. by RestrictedNamespace) keeps its
// labels. The cluster must have a node.
func (c *Cluster) InstallModelguardRelease(ctx context.Context, releaseYAML string) error {
	if !c.node {
		return fmt.Errorf("install modelguard release: the cluster has no node (Config.Node)")
	}
	// No KServe CRD stand-ins: model-deploy's target auto would take them
	// for KServe (InstallKServe installs the real one).
	for _, args := range [][]string{
		{"apply", "-f", releaseYAML},
	} {
		if out, err := c.Kubectl(ctx, UserAdmin, args...); err != nil {
			return fmt.Errorf("install modelguard release: kubectl %v: %w\n%s", args, err, out)
		}
	}
	if err := c.WaitControllerRollout(ctx); err != nil {
		return err
	}
	return c.waitForAdmissionPolicies(ctx)
}

// WaitControllerRollout waits until the modelguard controller Deployment
// has rolled out (kubectl rollout status), with the pods' description in
// the error if it does not.
func (c *Cluster) WaitControllerRollout(ctx context.Context) error {
	out, err := c.Kubectl(ctx, UserAdmin, "-n", ControllerNamespace, "rollout", "status", "deployment/modelguard-controller", "--timeout=4m")
	if err != nil {
		desc, _ := c.Kubectl(ctx, UserAdmin, "-n", ControllerNamespace, "describe", "pods")
		logs, _ := c.Kubectl(ctx, UserAdmin, "-n", ControllerNamespace, "logs", "-l", "app.kubernetes.io/name=modelguard-controller", "--tail=30", "--all-containers")
		return fmt.Errorf("modelguard controller rollout: %w\n%s\n%s\n%s", err, out, desc, logs)
	}
	return nil
}

// waitForAdmissionPolicies returns once the API server enforces the
// policies config/ installed: it learns of new policies and bindings
// through informers, so for a moment after `kubectl apply` it admits what
// they refuse. The probes are dry runs on a namespace declared prod: as the
// controller's identity against the first and the last policy applied, and
// as a pipeline author against the one matching Tekton's PipelineRuns.
func (c *Cluster) waitForAdmissionPolicies(ctx context.Context) error {
	const probe = "modelguard-admission-probe"
	admin := kubernetes.NewForConfigOrDie(c.RESTConfig(UserAdmin))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: probe, Labels: map[string]string{guard.NamespaceProfileLabel: "prod"}}}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	defer admin.CoreV1().Namespaces().Delete(context.Background(), probe, metav1.DeleteOptions{}) //nolint:errcheck // best effort
	ctrl := kubernetes.NewForConfigOrDie(c.RESTConfig(UserController))
	dry := []string{metav1.DryRunAll}
	label := []byte(`{"metadata":{"labels":{"policy-group.network.openshift.io/ingress":""}}}`)
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "modelguard-operator-prod"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "probe"}}}
	// The pipelines policy matches a CRD (Tekton's PipelineRuns) and can
	// come into force later than the others: probe it too, as a pipeline
	// author allowed to create PipelineRuns there (RBAC comes first).
	if err := allowPipelineRuns(ctx, admin, probe, UserDave); err != nil {
		return err
	}
	author := dynamic.NewForConfigOrDie(c.RESTConfig(UserDave))
	inline := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
		"metadata": map[string]any{"name": "probe"},
		"spec":     map[string]any{"pipelineSpec": map[string]any{"tasks": []any{map[string]any{"name": "t", "taskRef": map[string]any{"name": "x"}}}}}}}
	pipelineRuns := schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err1 := ctrl.CoreV1().Namespaces().Patch(ctx, probe, types.MergePatchType, label, metav1.PatchOptions{DryRun: dry})
		_, err2 := ctrl.RbacV1().RoleBindings(probe).Create(ctx, rb, metav1.CreateOptions{DryRun: dry})
		_, err3 := author.Resource(pipelineRuns).Namespace(probe).Create(ctx, inline, metav1.CreateOptions{DryRun: dry})
		if refusedBy(err1, guard.PolicyNamespaceLabels) && refusedBy(err2, guard.PolicyPersonaBindings) && refusedBy(err3, guard.PolicyProdPipelines) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("admission policies not enforced 60s after install: %v; %v; %v", err1, err2, err3)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func refusedBy(err error, policy string) bool {
	return err != nil && strings.Contains(err.Error(), policy)
}

// allowPipelineRuns lets user create PipelineRuns in ns (a Role and its
// binding, made by a cluster admin, whom the persona policy lets through).
func allowPipelineRuns(ctx context.Context, admin kubernetes.Interface, ns, user string) error {
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "probe-pipelineruns"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"tekton.dev"}, Resources: []string{"pipelineruns"}, Verbs: []string{"create"}}}}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "probe-pipelineruns"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// modelguardUser is the uid the modelguard image runs as. The Tasks'
// steps say runAsNonRoot without a uid, which the kubelet only accepts for
// an image whose user is numeric and not 0.
const modelguardUser = "65532:65532"

// BuildModelguardImage builds ./cmd/modelguard with ko onto the node's
// busybox base (with a non-root user) and pushes it into the cluster's
// registry; it returns the reference by digest: the step image of every
// Task and the demo model server. The cluster must have a node.
func (c *Cluster) BuildModelguardImage(ctx context.Context) (string, error) {
	if c.Images == nil || c.Registry == "" {
		return "", fmt.Errorf("build the modelguard image: the cluster has no node (Config.Node)")
	}
	root := tools.RepoRoot()
	if root == "" {
		return "", fmt.Errorf("build the modelguard image: no modelguard checkout around the working dir")
	}
	base, err := c.nonRootBase()
	if err != nil {
		return "", err
	}
	refs, err := tools.KoBuild(ctx, tools.KoOptions{
		Ko: c.Tools.Ko, Dir: root, ImportPaths: []string{"./cmd/modelguard"},
		Repo: c.Registry + "/modelguard", Base: base, Log: c.log,
	})
	if err != nil {
		return "", err
	}
	return refs[0], nil
}

// nonRootBase pushes the busybox base with its user set to modelguardUser.
func (c *Cluster) nonRootBase() (string, error) {
	ref, err := name.ParseReference(c.Images.Busybox, name.Insecure)
	if err != nil {
		return "", err
	}
	img, err := remote.Image(ref)
	if err != nil {
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cfg := cf.Config
	cfg.User = modelguardUser
	if img, err = mutate.Config(img, cfg); err != nil {
		return "", err
	}
	tag, err := name.NewTag(c.Registry+"/modelguard/base-nonroot:latest", name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(tag, img); err != nil {
		return "", fmt.Errorf("push %s: %w", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return tag.Context().Digest(d.String()).String(), nil
}

// ControllerBinding is the RoleBinding by which namespace ns grants the
// modelguard controller one of its opt-in ClusterRoles (the ACS Secret,
// a signing key, the workloads it watches), named after the role as the
// README shows it.
func ControllerBinding(ns, clusterRole string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: clusterRole, Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ControllerServiceAccount, Namespace: ControllerNamespace}}}
}
