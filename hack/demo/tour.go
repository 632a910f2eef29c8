package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/modelguard/modelguard/test/gitserver"
	"github.com/modelguard/modelguard/test/localcluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// The tour's namespaces and names, as the READMEs use them.
const (
	pipelinesNS  = "model-pipelines"
	servingNS    = "model-serving"
	modelName    = "tiny"
	centralToken = "demo-token-not-a-secret"
	// The webhook secrets only the demo's git "host" and Triggers know.
	githubSecret = "demo-github-webhook-secret"
)

// tour is what `make demo` sets up and then drives.
type tour struct {
	c          *localcluster.Cluster
	kube       kubernetes.Interface
	root       string
	modelguard string // the modelguard image, by digest
	chains     *localcluster.Chains
	central    *acsemulator.Server
	git        *gitserver.Server
	commit     string
	kserve     bool
}

// releaseSetUp does what pipelines/model-release/0.2's README lists, as
// a platform team would: the serving namespace handed to the pipeline
// namespace, the Tasks and the Pipeline (its defaults set to this demo,
// so `tkn pipeline start model-release --use-param-defaults` works), the
// ACS Secret and Chains' public key with the controller's reader
// bindings, the namespace's signing key (so the gates' decisions and the
// pipeline's provenance are signed), model-deploy's RBAC, the watch's
// workload reader, the ServingRuntime for KServe, and the emulated Sensor
// reporting the serving namespace to Central.
func (tr *tour) releaseSetUp(ctx context.Context) error {
	from, err := tr.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: pipelinesNS}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	// The cluster admin's hand-over: bound to the pipeline namespace's UID,
	// a declared profile, baseline allowed for KServe's modelcars,
	// model-deploy's RoleBinding expected, the persona groups allowed.
	serving := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: servingNS,
		Labels: map[string]string{guard.OptInLabel: pipelinesNS, guard.NamespaceProfileLabel: string(guard.Dev)},
		Annotations: map[string]string{
			guard.OptInUIDAnnotation:                           string(from.UID),
			guard.AllowPodSecurityAnnotation:                   "baseline",
			guard.AllowForeignAnnotation:                       "RoleBinding/modelguard-model-deploy-task,RoleBinding/modelguard-workload-reader",
			guard.AllowSubjectsAnnotation(guard.DataScientist): "group:" + localcluster.GroupDataScientists,
			guard.AllowSubjectsAnnotation(guard.Operator):      "group:" + localcluster.GroupOperators,
		}}}
	if _, err := tr.kube.CoreV1().Namespaces().Create(ctx, serving, metav1.CreateOptions{}); err != nil {
		return err
	}
	secrets := []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "modelguard-acs"}, Data: map[string][]byte{
			"endpoint": []byte(tr.central.Endpoint), "token": []byte(centralToken), "ca.crt": tr.central.CAPEM}},
		{ObjectMeta: metav1.ObjectMeta{Name: "chains-public-key"}, Data: map[string][]byte{"cosign.pub": tr.chains.PublicKey}},
		{ObjectMeta: metav1.ObjectMeta{Name: "model-release-webhook"}, StringData: map[string]string{
			"github-secret": githubSecret, "gitlab-token": "demo-gitlab-token"}},
	}
	for _, s := range secrets {
		if _, err := tr.kube.CoreV1().Secrets(pipelinesNS).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	if _, err := localcluster.StoreKeyPair(ctx, tr.kube, pipelinesNS, attest.SigningSecret); err != nil {
		return err
	}
	// What the controller may read or watch, namespace by namespace.
	for ns, roles := range map[string][]string{
		pipelinesNS: {"modelguard-acs-secret-reader", attest.ChainsKeyReader, attest.SigningSecretReader},
		servingNS:   {"modelguard-workload-reader"},
	} {
		for _, role := range roles {
			if _, err := tr.kube.RbacV1().RoleBindings(ns).Create(ctx, localcluster.ControllerBinding(ns, role), metav1.CreateOptions{}); err != nil {
				return err
			}
		}
	}
	if err := tr.central.WatchDeployments(ctx, tr.kube, acsemulator.SensorOptions{Namespace: servingNS}); err != nil {
		return err
	}
	var files []string
	for _, task := range []string{"model-fetch", "model-image-build", "model-deploy", "acs-image-scan", "acs-image-check", "verify-image", "acs-deployment-check", "acs-runtime-watch", "namespace-guard"} {
		files = append(files, filepath.Join(tr.root, "tasks", task, "0.1", task+".yaml"))
	}
	files = append(files, filepath.Join(tr.root, "tasks", "model-deploy", "0.1", "samples", "rbac.yaml"))
	for _, f := range files {
		if err := tr.apply(ctx, f, nil); err != nil {
			return err
		}
	}
	if tr.kserve {
		runtime := filepath.Join(tr.root, "tasks", "model-deploy", "0.1", "samples", "servingruntime.yaml")
		if err := tr.apply(ctx, runtime, strings.NewReplacer("registry.example.com/modelguard@sha256:<digest>", tr.modelguard)); err != nil {
			return err
		}
	}
	return tr.applyPipeline(ctx)
}

// settings are the release's values for this demo: the settings
// TriggerBinding's and the Pipeline's defaults.
func (tr *tour) settings() map[string]string {
	return map[string]string{
		"git-url":           tr.git.RepoURL(modelName),
		"git-revision":      tr.commit,
		"image":             tr.c.Registry + "/models/tiny:1",
		"base-image":        tr.c.Images.Busybox,
		"model-path":        "model",
		"serving-namespace": servingNS,
		"model-name":        modelName,
		"serving-runtime":   "modelguard-serve",
		"pod-security":      "baseline",
		"modelguard-image":  tr.modelguard,
		"max-scan-age":      "1h",
		"watch-window":      "20s",
		"watch-grace":       "5s",
	}
}

// applyPipeline applies model-release 0.2 with its params' defaults set
// to this demo's values.
func (tr *tour) applyPipeline(ctx context.Context) error {
	objs, err := readYAML(filepath.Join(tr.root, "pipelines", "model-release", "0.2", "model-release.yaml"))
	if err != nil {
		return err
	}
	p := objs[0]
	params, _, _ := unstructured.NestedSlice(p.Object, "spec", "params")
	set := tr.settings()
	// Array defaults: the personas the guard binds, from the cluster's
	// users' groups (the admin allowed them on the serving namespace), and
	// what the serving containers may run (modelguard serve, under KServe or
	// in a Deployment).
	arrays := map[string][]any{
		"data-scientist-groups": {localcluster.GroupDataScientists},
		"operator-groups":       {localcluster.GroupOperators},
		"watch-allow-processes": {"kserve-container:/usr/bin/modelguard", "server:/usr/bin/modelguard"},
	}
	for _, x := range params {
		m := x.(map[string]any)
		name := m["name"].(string)
		if v, ok := set[name]; ok {
			m["default"] = v
		}
		if v, ok := arrays[name]; ok {
			m["default"] = v
		}
	}
	if err := unstructured.SetNestedSlice(p.Object, params, "spec", "params"); err != nil {
		return err
	}
	return tr.applyObjects(ctx, "pipeline.yaml", []unstructured.Unstructured{p})
}

// applyTriggers applies config/triggers into the pipelines namespace with
// the settings binding set to this demo's values.
func (tr *tour) applyTriggers(ctx context.Context) error {
	out, err := tr.c.Kubectl(ctx, localcluster.UserAdmin, "kustomize", filepath.Join(tr.root, "config", "triggers"))
	if err != nil {
		return err
	}
	objs, err := splitYAML(out)
	if err != nil {
		return err
	}
	set := tr.settings()
	for _, u := range objs {
		if u.GetKind() != "TriggerBinding" || u.GetName() != "model-release-settings" {
			continue
		}
		params, _, _ := unstructured.NestedSlice(u.Object, "spec", "params")
		for _, x := range params {
			m := x.(map[string]any)
			if v, ok := set[m["name"].(string)]; ok {
				m["value"] = v
			}
		}
		if err := unstructured.SetNestedSlice(u.Object, params, "spec", "params"); err != nil {
			return err
		}
	}
	return tr.applyObjects(ctx, "triggers.yaml", objs)
}

// apply applies a file into the pipelines namespace, with replacements.
func (tr *tour) apply(ctx context.Context, file string, r *strings.Replacer) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if r != nil {
		b = []byte(r.Replace(string(b)))
	}
	objs, err := splitYAML(b)
	if err != nil {
		return err
	}
	return tr.applyObjects(ctx, filepath.Base(file), objs)
}

func (tr *tour) applyObjects(ctx context.Context, name string, objs []unstructured.Unstructured) error {
	var docs []string
	// Files that name their namespaces (RBAC, kustomize output) are applied
	// as they are; the rest go to the pipelines namespace.
	args := []string{"apply", "-n", pipelinesNS}
	for _, u := range objs {
		if u.GetNamespace() != "" {
			args = []string{"apply"}
		}
	}
	for _, u := range objs {
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			return err
		}
		docs = append(docs, string(b))
	}
	file := filepath.Join(tr.c.Dir, "demo", name)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(file, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		return err
	}
	if out, err := tr.c.Kubectl(ctx, localcluster.UserAdmin, append(args, "-f", file)...); err != nil {
		return fmt.Errorf("apply %s: %w\n%s", name, err, out)
	}
	return nil
}

func readYAML(path string) ([]unstructured.Unstructured, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return splitYAML(b)
}

// splitYAML parses a multi-document YAML stream, dropping empty documents.
func splitYAML(b []byte) ([]unstructured.Unstructured, error) {
	var objs []unstructured.Unstructured
	for _, d := range strings.Split("\n"+string(b), "\n---") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs, nil
}
