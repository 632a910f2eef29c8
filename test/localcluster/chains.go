package localcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/modelguard/modelguard/test/tools"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// ChainsNamespace is where Chains' release installs it, and where it reads
// chains-config and the signing-secrets Secret.
const ChainsNamespace = "tekton-chains"

// chainsReadyTimeout bounds the wait for the controller pod to hold its
// leases (image pull and informer sync take a few seconds).
const chainsReadyTimeout = 3 * time.Minute

// Chains is a Tekton Chains controller running as a pod of the cluster.
type Chains struct {
	Namespace string // ChainsNamespace
	Image     string // the controller image, by digest in Cluster.Registry
	// PublicKey is cosign.pub of the signing-secrets Secret (PEM): what
	// verifies what Chains signs.
	PublicKey []byte
}

// InstallChains installs Tekton Chains tools.ChainsVersion the way a user does,
// and waits until its controller runs:
//   - Chains' release manifests (namespace, RBAC, config maps, Deployment)
//     from the chains module's config/, the Deployment's ko:// image
//     replaced by the controller image built with ko (cached per machine,
//     pushed into the cluster's registry);
//   - the project's config/chains/chains-config.yaml, with only
//     storage.oci.repository.insecure set to "true" (the registry is plain
//     HTTP on loopback);
//   - a cosign key pair, generated here, in Secret signing-secrets.
//
// The Deployment gets what a real cluster would give its pod: a route to
// the apiserver and the registry (see podForwarder; it runs in this
// process, so Chains loses them when it exits).
// It needs a node (Config.Node).
func (c *Cluster) InstallChains(ctx context.Context) (*Chains, error) {
	if c.Images == nil || c.Registry == "" {
		return nil, errors.New("install chains: the cluster has no node (Config.Node)")
	}
	root := tools.RepoRoot()
	if root == "" {
		return nil, errors.New("install chains: no checkout of github.com/modelguard/modelguard around the working dir (for config/chains)")
	}
	start := time.Now()
	img, _, err := tools.ChainsImage(ctx, c.Tools, c.log)
	if err != nil {
		return nil, err
	}
	ref, err := tools.PushImage(ctx, c.Registry+"/tekton-chains/controller:"+tools.ChainsVersion, img)
	if err != nil {
		return nil, err
	}
	modDir, err := tools.ModuleDir(ctx, "github.com/tektoncd/chains", tools.ChainsVersion)
	if err != nil {
		return nil, err
	}
	apiPort, err := strconv.Atoi(c.Server[strings.LastIndex(c.Server, ":")+1:])
	if err != nil {
		return nil, fmt.Errorf("apiserver port of %s: %w", c.Server, err)
	}
	regPort, err := strconv.Atoi(c.Registry[strings.LastIndex(c.Registry, ":")+1:])
	if err != nil {
		return nil, fmt.Errorf("registry port of %s: %w", c.Registry, err)
	}
	release, deployment, err := chainsRelease(filepath.Join(modDir, "config"))
	if err != nil {
		return nil, err
	}
	adaptChainsDeployment(deployment, ref, c.Images.Busybox, apiPort, regPort)
	config, err := chainsConfig(filepath.Join(root, "config", "chains", "chains-config.yaml"))
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.Dir, "chains")
	files := []struct {
		name string
		objs []any
	}{{"release.yaml", release}, {"chains-config.yaml", []any{config}}, {"deployment.yaml", []any{deployment}}}
	for _, f := range files {
		if err := writeManifests(filepath.Join(dir, f.name), f.objs); err != nil {
			return nil, err
		}
	}
	client, err := kubernetes.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	// The Deployment last: then its pod starts with the key and the
	// configuration in place, and needs no restart.
	for _, f := range files[:2] {
		if _, err := c.Kubectl(ctx, UserAdmin, "apply", "--server-side", "-f", filepath.Join(dir, f.name)); err != nil {
			return nil, fmt.Errorf("install chains: %w", err)
		}
	}
	pub, err := createSigningSecret(ctx, client)
	if err != nil {
		return nil, err
	}
	// The pod's CA file comes from this ConfigMap, which the
	// controller-manager publishes into every new namespace.
	if err := waitFor(ctx, 30*time.Second, func() (bool, string, error) {
		_, err := client.CoreV1().ConfigMaps(ChainsNamespace).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err), nil
	}); err != nil {
		return nil, fmt.Errorf("install chains: ConfigMap kube-root-ca.crt: %w", err)
	}
	if _, err := c.Kubectl(ctx, UserAdmin, "apply", "--server-side", "-f", filepath.Join(dir, "deployment.yaml")); err != nil {
		return nil, fmt.Errorf("install chains: %w", err)
	}
	if err := c.forwardChainsPod(ctx, client, []int{apiPort, regPort}); err != nil {
		return nil, err
	}
	if err := c.waitChainsLeases(ctx, client); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.log, "localcluster: chains %s running (%.1fs)\n", tools.ChainsVersion, time.Since(start).Seconds())
	return &Chains{Namespace: ChainsNamespace, Image: ref, PublicKey: pub}, nil
}

// chainsRelease reads the YAML files of Chains' config/ dir and returns
// every object but the controller Deployment, and that Deployment.
func chainsRelease(dir string) ([]any, *appsv1.Deployment, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		return nil, nil, fmt.Errorf("no chains release manifests in %s", dir)
	}
	all, err := readManifests(paths...)
	if err != nil {
		return nil, nil, err
	}
	var objs []any
	var dep *appsv1.Deployment
	for _, u := range all {
		if u.GetKind() != "Deployment" {
			objs = append(objs, u.Object)
			continue
		}
		if dep != nil {
			return nil, nil, fmt.Errorf("chains release has more than one Deployment")
		}
		dep = &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, dep); err != nil {
			return nil, nil, fmt.Errorf("chains Deployment: %w", err)
		}
	}
	if dep == nil || len(dep.Spec.Template.Spec.Containers) != 1 {
		return nil, nil, fmt.Errorf("chains release in %s has no one-container Deployment", dir)
	}
	return objs, dep, nil
}

// adaptChainsDeployment changes what a cluster without kube-proxy needs,
// nothing else:
//   - the controller image, by digest, instead of ko://;
//   - the apiserver's address for in-cluster config (no Service VIP works
//     here; the pod's 127.0.0.1:<port> is forwarded to the apiserver);
//   - an init container that waits until the forwarding is in place, so
//     the controller does not start (and crash) before it.
func adaptChainsDeployment(d *appsv1.Deployment, image, busybox string, apiPort, regPort int) {
	spec := &d.Spec.Template.Spec
	ctr := &spec.Containers[0]
	ctr.Image = image
	ctr.Env = append(ctr.Env,
		corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"},
		corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: strconv.Itoa(apiPort)})
	spec.InitContainers = append(spec.InitContainers, corev1.Container{
		Name:  "wait-for-cluster-network",
		Image: busybox,
		// No wget -T: Debian's busybox-static wget segfaults with it.
		// The forwarder accepts or refuses at once, so nothing hangs.
		Command: []string{"sh", "-c", fmt.Sprintf(
			"until wget -q -O - http://127.0.0.1:%d/v2/ >/dev/null; do sleep 0.2; done", regPort)},
	})
}

// chainsConfig reads the project's chains-config ConfigMap and allows the
// plain-HTTP registry, the one setting a local cluster needs changed.
func chainsConfig(path string) (*corev1.ConfigMap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read chains config: %w", err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(data, &cm); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if cm.Kind != "ConfigMap" || cm.Name != "chains-config" || cm.Namespace != ChainsNamespace {
		return nil, fmt.Errorf("%s is not ConfigMap %s/chains-config", path, ChainsNamespace)
	}
	cm.Data["storage.oci.repository.insecure"] = "true"
	return &cm, nil
}

// createSigningSecret generates a cosign key pair and stores it in the
// release's (empty) signing-secrets Secret, as `cosign generate-key-pair
// k8s://tekton-chains/signing-secrets` does. It returns the public key.
func createSigningSecret(ctx context.Context, client kubernetes.Interface) ([]byte, error) {
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	password := []byte(hex.EncodeToString(pw))
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return password, nil })
	if err != nil {
		return nil, fmt.Errorf("generate cosign key pair: %w", err)
	}
	secrets := client.CoreV1().Secrets(ChainsNamespace)
	s, err := secrets.Get(ctx, "signing-secrets", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("chains signing secret: %w", err)
	}
	s.Data = map[string][]byte{"cosign.key": keys.PrivateBytes, "cosign.password": password, "cosign.pub": keys.PublicBytes}
	if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("chains signing secret: %w", err)
	}
	return keys.PublicBytes, nil
}

// writeManifests writes objects as one multi-document YAML file.
func writeManifests(path string, objs []any) error {
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("write %s: %w", filepath.Base(path), err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// waitFor polls cond every 200ms until it holds, fails (an error: no point
// in waiting longer) or the timeout passes; a timeout's error carries
// cond's last explanation.
func waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, string, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, why, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not after %s: %s", timeout, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
