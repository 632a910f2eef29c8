package localcluster

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/modelguard/modelguard/test/tools"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// PolicyControllerNamespace is where policy-controller's release installs
// its webhook, and where it reads its configuration.
const PolicyControllerNamespace = "cosign-system"

// PolicyControllerIncludeLabel opts a namespace in to enforcement.
const PolicyControllerIncludeLabel = "policy.sigstore.dev/include"

const policyControllerSelector = "role=webhook"

// PolicyController is sigstore policy-controller's webhook running as a pod
// of the cluster, registered with the API server.
type PolicyController struct {
	Image string // the webhook image, by digest in Cluster.Registry
	// URL is where the API server calls it: https://127.0.0.1:<port>,
	// forwarded to the pod.
	URL string
}

// InstallPolicyController installs sigstore policy-controller
// tools.PolicyControllerVersion from its release manifests (CRDs, RBAC,
// config maps, the webhook Deployment with the image built by ko from the
// module proxy) and registers its webhooks. Two things differ from a real
// cluster, both because nothing here routes to a Service:
//   - the API server calls the webhook at a loopback URL with a caBundle,
//     forwarded to the pod's address; the serving certificate is made here
//     (valid for 127.0.0.1) and given to the webhook in its webhook-certs
//     Secret, which its certificate reconciler then keeps;
//   - the webhook configurations and the ClusterImagePolicy CRD's
//     conversion webhook are written with those URLs, so knative's
//     reconcilers, which expect Service references, leave them alone.
//
// TUF is disabled (--disable-tuf): key-based policies need no public root.
// It needs a node (Config.Node).
func (c *Cluster) InstallPolicyController(ctx context.Context) (*PolicyController, error) {
	if c.Images == nil || c.Registry == "" {
		return nil, errors.New("install policy-controller: the cluster has no node (Config.Node)")
	}
	start := time.Now()
	img, _, err := tools.PolicyControllerImage(ctx, c.Tools, c.log)
	if err != nil {
		return nil, err
	}
	ref, err := tools.PushImage(ctx, c.Registry+"/sigstore/policy-controller-webhook:"+tools.PolicyControllerVersion, img)
	if err != nil {
		return nil, err
	}
	modDir, err := tools.ModuleDir(ctx, "github.com/sigstore/policy-controller", tools.PolicyControllerVersion)
	if err != nil {
		return nil, err
	}
	objs, dep, err := readRelease(filepath.Join(modDir, "config"))
	if err != nil {
		return nil, err
	}
	ctr := &dep.Spec.Template.Spec.Containers[0]
	ctr.Image = ref
	ctr.Args = append(ctr.Args, "--disable-tuf")
	// Its liveness probe allows 26 s from start to serving; on a loaded
	// 2-core machine knative's start-up can take longer, and a restart
	// would only repeat it. Readiness still gates the registration.
	ctr.LivenessProbe = nil
	// The release's image is distroless, whose user is 65532; ko puts the
	// webhook on the local busybox base, whose user is root, which the
	// Deployment's runAsNonRoot refuses. Run it as that same user.
	if ctr.SecurityContext == nil {
		ctr.SecurityContext = &corev1.SecurityContext{}
	}
	ctr.SecurityContext.RunAsUser = ptr.To[int64](65532)

	ca, err := newCA("policy-controller-webhook-ca", 30*24*time.Hour)
	if err != nil {
		return nil, err
	}
	certDER, keyDER, err := ca.serving("webhook", []net.IP{net.IPv4(127, 0, 0, 1)},
		[]string{"webhook." + PolicyControllerNamespace + ".svc", "webhook." + PolicyControllerNamespace})
	if err != nil {
		return nil, err
	}
	// The URL's port is only known once the forwarder listens; the pod's
	// address only once it runs. So: listen first, forward when known.
	fwd := &podAddress{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := newForwarder()
	f.forwardTo(l, fwd.get)
	c.mu.Lock()
	c.onStop = append(c.onStop, f.Close)
	c.mu.Unlock()
	url := "https://" + l.Addr().String()

	var release []any
	for _, o := range objs {
		m := o.(map[string]any)
		switch kindName(m) {
		case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
			continue // registered below, by URL
		case "Secret/webhook-certs":
			m["data"] = map[string]any{
				"server-key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
				"server-cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
				"ca-cert.pem":     ca.pem,
			}
		case "CustomResourceDefinition/clusterimagepolicies.policy.sigstore.dev":
			conversionByURL(m, url+"/resource-conversion", ca.pem)
		}
		release = append(release, m)
	}
	dir := filepath.Join(c.Dir, "policy-controller")
	files := []struct {
		name string
		objs []any
	}{{"release.yaml", release}, {"deployment.yaml", []any{dep}}, {"webhooks.yaml", webhookConfigurations(url, ca.pem)}}
	for _, f := range files {
		if err := writeManifests(filepath.Join(dir, f.name), f.objs); err != nil {
			return nil, err
		}
	}
	client, err := kubernetes.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		return nil, err
	}
	for _, f := range files[:2] {
		if _, err := c.Kubectl(ctx, UserAdmin, "apply", "--server-side", "-f", filepath.Join(dir, f.name)); err != nil {
			return nil, fmt.Errorf("install policy-controller: %w", err)
		}
	}
	if err := c.waitPolicyControllerReady(ctx, client, fwd); err != nil {
		return nil, err
	}
	if _, err := c.Kubectl(ctx, UserAdmin, "apply", "--server-side", "-f", filepath.Join(dir, "webhooks.yaml")); err != nil {
		return nil, fmt.Errorf("install policy-controller: %w", err)
	}
	fmt.Fprintf(c.log, "localcluster: policy-controller %s running at %s (%.1fs)\n", tools.PolicyControllerVersion, url, time.Since(start).Seconds())
	return &PolicyController{Image: ref, URL: url}, nil
}

func kindName(m map[string]any) string {
	kind, _ := m["kind"].(string)
	meta, _ := m["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if kind == "ValidatingWebhookConfiguration" || kind == "MutatingWebhookConfiguration" {
		return kind
	}
	return kind + "/" + name
}

func conversionByURL(crd map[string]any, url string, caPEM []byte) {
	spec, _ := crd["spec"].(map[string]any)
	conv, _ := spec["conversion"].(map[string]any)
	wh, _ := conv["webhook"].(map[string]any)
	if wh == nil {
		return
	}
	wh["clientConfig"] = map[string]any{"url": url, "caBundle": caPEM}
}

// webhookConfigurations registers the webhook's four admission endpoints
// (the paths its main serves) by URL: workloads in namespaces labelled
// policy.sigstore.dev/include=true are validated (/validations) after
// their image tags are resolved to digests (/mutations), and
// ClusterImagePolicies are defaulted and validated (/defaulting,
// /validating), as its release's configurations would once knative had
// filled them in.
func webhookConfigurations(url string, caPEM []byte) []any {
	include := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: PolicyControllerIncludeLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{"true"}}}}
	workloads := []admissionv1.RuleWithOperations{
		rule("", "v1", "pods", "pods/ephemeralcontainers"),
		rule("apps", "v1", "deployments", "replicasets", "statefulsets", "daemonsets"),
		rule("batch", "v1", "jobs", "cronjobs"),
	}
	policies := []admissionv1.RuleWithOperations{rule("policy.sigstore.dev", "*", "clusterimagepolicies", "trustroots")}
	cc := func(path string) admissionv1.WebhookClientConfig {
		return admissionv1.WebhookClientConfig{URL: ptr.To(url + path), CABundle: caPEM}
	}
	none := ptr.To(admissionv1.SideEffectClassNone)
	fail := ptr.To(admissionv1.Fail)
	v1 := []string{"v1"}
	return []any{
		&admissionv1.MutatingWebhookConfiguration{
			TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
			ObjectMeta: metav1.ObjectMeta{Name: "policy.sigstore.dev"},
			Webhooks: []admissionv1.MutatingWebhook{{Name: "policy.sigstore.dev", ClientConfig: cc("/mutations"), Rules: workloads,
				NamespaceSelector: include, SideEffects: none, FailurePolicy: fail, AdmissionReviewVersions: v1,
				TimeoutSeconds: ptr.To[int32](25), ReinvocationPolicy: ptr.To(admissionv1.IfNeededReinvocationPolicy)}},
		},
		&admissionv1.ValidatingWebhookConfiguration{
			TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
			ObjectMeta: metav1.ObjectMeta{Name: "policy.sigstore.dev"},
			Webhooks: []admissionv1.ValidatingWebhook{{Name: "policy.sigstore.dev", ClientConfig: cc("/validations"), Rules: workloads,
				NamespaceSelector: include, SideEffects: none, FailurePolicy: fail, AdmissionReviewVersions: v1, TimeoutSeconds: ptr.To[int32](25)}},
		},
		&admissionv1.MutatingWebhookConfiguration{
			TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
			ObjectMeta: metav1.ObjectMeta{Name: "defaulting.clusterimagepolicy.sigstore.dev"},
			Webhooks: []admissionv1.MutatingWebhook{{Name: "defaulting.clusterimagepolicy.sigstore.dev", ClientConfig: cc("/defaulting"),
				Rules: policies, SideEffects: none, FailurePolicy: fail, AdmissionReviewVersions: v1}},
		},
		&admissionv1.ValidatingWebhookConfiguration{
			TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
			ObjectMeta: metav1.ObjectMeta{Name: "validating.clusterimagepolicy.sigstore.dev"},
			Webhooks: []admissionv1.ValidatingWebhook{{Name: "validating.clusterimagepolicy.sigstore.dev", ClientConfig: cc("/validating"),
				Rules: policies, SideEffects: none, FailurePolicy: fail, AdmissionReviewVersions: v1}},
		},
	}
}

func rule(group, version string, resources ...string) admissionv1.RuleWithOperations {
	return admissionv1.RuleWithOperations{
		Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
		Rule:       admissionv1.Rule{APIGroups: []string{group}, APIVersions: []string{version}, Resources: resources},
	}
}

// waitPolicyControllerReady waits until the webhook pod is Ready (its
// readiness probe is an HTTPS request to the webhook port), then points
// the forwarder at it.
func (c *Cluster) waitPolicyControllerReady(ctx context.Context, client kubernetes.Interface, fwd *podAddress) error {
	err := waitFor(ctx, 4*time.Minute, func() (bool, string, error) {
		pods, err := client.CoreV1().Pods(PolicyControllerNamespace).List(ctx, metav1.ListOptions{LabelSelector: policyControllerSelector})
		if err != nil || len(pods.Items) == 0 {
			return false, fmt.Sprint("no webhook pod yet ", err), nil
		}
		p := pods.Items[0]
		if bad := podTrouble(p); bad != "" {
			return false, "", fmt.Errorf("%s", bad)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && p.Status.PodIP != "" {
				fwd.set(net.JoinHostPort(p.Status.PodIP, "8443"))
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("pod %s is %s, not ready", p.Name, p.Status.Phase), nil
	})
	if err != nil {
		return fmt.Errorf("policy-controller webhook not ready: %w\n%s", err, c.describePolicyController(ctx))
	}
	return nil
}

func (c *Cluster) describePolicyController(ctx context.Context) string {
	return c.kubectlReport(ctx,
		[]string{"-n", PolicyControllerNamespace, "describe", "pods"},
		[]string{"-n", PolicyControllerNamespace, "logs", "-l", policyControllerSelector, "--all-containers", "--tail=60"})
}

// podAddress is a pod's host:port, set once the pod runs.
type podAddress struct {
	mu   sync.Mutex
	addr string
}

func (a *podAddress) set(s string) { a.mu.Lock(); a.addr = s; a.mu.Unlock() }

func (a *podAddress) get() string { a.mu.Lock(); defer a.mu.Unlock(); return a.addr }
