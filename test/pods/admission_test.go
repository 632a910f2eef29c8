package pods

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/test/localcluster"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// distinctImage pushes the node's busybox image under repo with an
// annotation that makes its digest its own, and returns repo@digest.
func distinctImage(t *testing.T, repo string) string {
	t.Helper()
	base, err := name.ParseReference(env.cluster.Images.Busybox)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(base)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{"modelguard.test/image": repo}).(v1.Image)
	tag, err := name.NewTag(env.cluster.Registry + "/" + repo + ":1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return env.cluster.Registry + "/" + repo + "@" + d.String()
}

// TestAdmissionPolicyController enforces `modelguard policy render` for
// real: sigstore policy-controller's webhook, built from the module
// proxy, runs on the node and the API server calls it; with the rendered
// ClusterImagePolicies applied, a Deployment in a guarded namespace is
// refused when its image is unsigned, signed by another key, lacks a scan
// attestation or has only an old one, and admitted (and its pod runs)
// when it is signed and freshly scanned.
func TestAdmissionPolicyController(t *testing.T) {
	ctx := context.Background()
	if _, err := env.cluster.InstallPolicyController(ctx); err != nil {
		t.Fatal(err)
	}
	signer, attestor, other := mustKeys(t), mustKeys(t), mustKeys(t)
	repo := "models/admission"
	dir := t.TempDir()
	for n, k := range map[string]*localcluster.KeyPair{"signer.pub": signer, "attestor.pub": attestor} {
		if err := os.WriteFile(filepath.Join(dir, n), k.Public, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ns := namespace(t, "admission-guarded")
	trust := fmt.Sprintf(`apiVersion: modelguard.dev/v1alpha1
kind: TrustPolicy
metadata: {name: admission}
spec:
  repositories: [%s/%s]
  namespaces: [%s]
  signer: {publicKeyFile: signer.pub}
  attestor: {publicKeyFile: attestor.pub}
  require:
    scan: {maxAge: 1h}
`, env.cluster.Registry, repo, ns)
	if err := os.WriteFile(filepath.Join(dir, "trust.yaml"), []byte(trust), 0o644); err != nil {
		t.Fatal(err)
	}
	rendered := filepath.Join(dir, "policy-controller.yaml")
	tp, err := attest.ParseTrustPolicy([]byte(trust), dir, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	y, err := tp.Render(attest.RenderPolicyController)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rendered, y, 0o644); err != nil {
		t.Fatal(err)
	}
	// Through policy-controller's own validating webhook for policies.
	if out, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "apply", "-f", rendered); err != nil {
		t.Fatalf("apply the rendered policy: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_, _ = env.cluster.Kubectl(context.Background(), localcluster.UserAdmin, "delete", "-f", rendered)
	})
	if out, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "label", "namespace", ns, localcluster.PolicyControllerIncludeLabel+"=true"); err != nil {
		t.Fatalf("label %s: %v\n%s", ns, err, out)
	}

	sign := func(k *localcluster.KeyPair, image string) {
		s, err := attest.NewSigner("test", k.Private, k.Password)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sign(ctx, image, attest.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	scan := func(image string, finished time.Time) {
		s, err := attest.NewSigner("test", attestor.Private, attestor.Password)
		if err != nil {
			t.Fatal(err)
		}
		p := attest.VulnPredicate(attest.Scan{ScannerURI: "https://stackrox.io", Started: finished, Finished: finished,
			Result: attest.ScanResult{Verdict: "pass", Summary: "no CVE at or above IMPORTANT"}})
		if _, err := s.Attest(ctx, image, attest.PredicateVuln, p, attest.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	unsigned := distinctImage(t, repo+"/unsigned")
	otherKey := distinctImage(t, repo+"/other-key")
	sign(other, otherKey)
	scan(otherKey, time.Now())
	unscanned := distinctImage(t, repo+"/unscanned")
	sign(signer, unscanned)
	stale := distinctImage(t, repo+"/stale")
	sign(signer, stale)
	scan(stale, time.Now().Add(-3*time.Hour))
	good := distinctImage(t, repo+"/good")
	sign(signer, good)
	scan(good, time.Now())

	// policy-controller compiles policies into its config map: wait until
	// the unsigned image is refused before judging the rest.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := createDeployment(ctx, ns, "probe", unsigned)
		if err != nil && strings.Contains(err.Error(), "denied the request") {
			break
		}
		_ = env.kube.AppsV1().Deployments(ns).Delete(ctx, "probe", metav1.DeleteOptions{})
		if time.Now().After(deadline) {
			t.Fatalf("policy-controller never refused the unsigned image: %v", err)
		}
		time.Sleep(time.Second)
	}
	for _, c := range []struct{ name, image, why string }{
		{"unsigned", unsigned, "no signature"},
		{"other-key", otherKey, "signed by another key"},
		{"unscanned", unscanned, "no scan attestation"},
		{"stale", stale, "a scan older than an hour"},
	} {
		err := createDeployment(ctx, ns, c.name, c.image)
		if err == nil {
			t.Errorf("a Deployment of an image with %s was admitted", c.why)
			continue
		}
		if !strings.Contains(err.Error(), "denied the request") {
			t.Errorf("%s: not refused by the webhook: %v", c.name, err)
		}
		t.Logf("%s refused: %s", c.name, cutString(err.Error(), 300))
	}
	if err := createDeployment(ctx, ns, "good", good); err != nil {
		t.Fatalf("the signed, scanned image was refused: %v", err)
	}
	// The pod is admitted too (policy-controller checks pods as well), and runs.
	if err := waitPodRunning(ctx, ns, "app=good"); err != nil {
		t.Error(err)
	}
	// Outside a guarded namespace nothing is enforced.
	open := namespace(t, "admission-open")
	if err := createDeployment(ctx, open, "unsigned", unsigned); err != nil {
		t.Errorf("an unguarded namespace refused a Deployment: %v", err)
	}
}

func createDeployment(ctx context.Context, ns, name, image string) error {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			// Pod Security restricted, as the test namespaces enforce; the
			// UID comes from the namespace's range (restricted-v2).
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true),
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
				Containers: []corev1.Container{{Name: "c", Image: image, Command: []string{"sleep", "3600"},
					SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
						Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}}}},
	}
	_, err := env.kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	return err
}

func waitPodRunning(ctx context.Context, ns, selector string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pods, err := env.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil {
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			ev, _ := env.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			var msgs []string
			for _, e := range ev.Items {
				msgs = append(msgs, e.InvolvedObject.Name+": "+e.Message)
			}
			return fmt.Errorf("no running pod for %s in %s: %v", selector, ns, msgs)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func cutString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
