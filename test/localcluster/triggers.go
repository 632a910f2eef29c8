package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/modelguard/modelguard/test/tools"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Names from Triggers' release (config/ and config/interceptors/).
const (
	triggersControllerName = "tekton-triggers-controller"
	// InterceptorsService is the core interceptors' Service: the
	// ClusterInterceptors name it, and its in-cluster DNS name is what
	// their TLS certificate is for.
	InterceptorsService = "tekton-triggers-core-interceptors"
	// interceptorsPort is fixed in cmd/interceptors.
	interceptorsPort = 8443
)

var clusterInterceptors = schema.GroupVersionResource{Group: "triggers.tekton.dev", Version: "v1alpha1", Resource: "clusterinterceptors"}

// Triggers is Tekton Triggers running against the cluster.
type Triggers struct {
	c            *Cluster
	Controller   *Process
	Interceptors *Process
	// CABundle is the CA the core interceptors minted and patched into
	// every ClusterInterceptor: what the sink trusts.
	CABundle []byte
}

// InstallTriggers installs Tekton Triggers tools.TriggersVersion from its
// module's release manifests (CRDs, RBAC, ConfigMaps, the core
// ClusterInterceptors and the interceptors' Service and Secret; not the
// Deployments and not the webhook, which is not run) and runs, as the
// release's Deployments would, each under its own ServiceAccount's token:
//   - the core interceptors, serving TLS on :8443 with the certificate
//     they mint into tekton-triggers-core-interceptors-certs, and patching
//     its CA into the ClusterInterceptors;
//   - the controller, in a network namespace of its own (it binds
//     knative's fixed :8080, as Tekton's controller does), reaching only
//     the apiserver.
//
// Both take their args and env from the release's Deployments.
func (c *Cluster) InstallTriggers(ctx context.Context) (*Triggers, error) {
	start := time.Now()
	t, err := tools.EnsureTriggers(ctx, c.log)
	if err != nil {
		return nil, err
	}
	c.Tools.TriggersController, c.Tools.TriggersSink, c.Tools.TriggersInterceptors = t.TriggersController, t.TriggersSink, t.TriggersInterceptors
	modDir, err := tools.ModuleDir(ctx, "github.com/tektoncd/triggers", tools.TriggersVersion)
	if err != nil {
		return nil, err
	}
	deployments, err := c.applyTriggersRelease(ctx, filepath.Join(modDir, "config"))
	if err != nil {
		return nil, err
	}
	if err := portFree(interceptorsPort); err != nil {
		return nil, fmt.Errorf("install triggers: the core interceptors serve on the fixed port %d: %w", interceptorsPort, err)
	}
	tr := &Triggers{c: c}
	icpt, ok := deployments[InterceptorsService]
	if !ok {
		return nil, fmt.Errorf("install triggers: no Deployment %s in the release", InterceptorsService)
	}
	if tr.Interceptors, err = c.startFromDeployment(ctx, "triggers-interceptors", t.TriggersInterceptors, icpt, Isolation{}); err != nil {
		return nil, err
	}
	if tr.CABundle, err = tr.waitInterceptors(ctx); err != nil {
		return nil, err
	}
	ctl, ok := deployments[triggersControllerName]
	if !ok {
		return nil, fmt.Errorf("install triggers: no Deployment %s in the release", triggersControllerName)
	}
	if tr.Controller, err = c.startFromDeployment(ctx, "triggers-controller", t.TriggersController, ctl, Isolation{Net: true, Reach: []int{c.apiPort()}}); err != nil {
		return nil, err
	}
	// knative names its leases after the reconcilers' packages.
	if err := c.waitLease(ctx, tr.Controller, TektonNamespace, "controller.github.com.tektoncd.triggers.pkg.reconciler.eventlistener"); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.log, "localcluster: triggers %s running (%.1fs)\n", tools.TriggersVersion, time.Since(start).Seconds())
	return tr, nil
}

// applyTriggersRelease applies every object of the release but the
// Deployments and the webhook configurations (nothing serves them here, so
// they would make every Triggers object unadmittable), and returns the
// Deployments by name.
func (c *Cluster) applyTriggersRelease(ctx context.Context, cfgDir string) (map[string]*appsv1.Deployment, error) {
	paths, err := filepath.Glob(filepath.Join(cfgDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	more, err := filepath.Glob(filepath.Join(cfgDir, "interceptors", "*.yaml"))
	if err != nil || len(paths) == 0 || len(more) == 0 {
		return nil, fmt.Errorf("no triggers release manifests in %s", cfgDir)
	}
	objs, err := readManifests(append(paths, more...)...)
	if err != nil {
		return nil, err
	}
	deployments := map[string]*appsv1.Deployment{}
	var crds, apply []any
	for _, u := range objs {
		switch u.GetKind() {
		case "CustomResourceDefinition":
			crds = append(crds, u.Object)
		case "Deployment":
			d := &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
				return nil, fmt.Errorf("triggers Deployment %s: %w", u.GetName(), err)
			}
			deployments[d.Name] = d
		case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
		default:
			apply = append(apply, u.Object)
		}
	}
	// The CRDs first: the ClusterInterceptors need them established.
	crdFile, file := filepath.Join(c.Dir, "triggers", "crds.yaml"), filepath.Join(c.Dir, "triggers", "release.yaml")
	if err := writeManifests(crdFile, crds); err != nil {
		return nil, err
	}
	if err := writeManifests(file, apply); err != nil {
		return nil, err
	}
	if out, err := c.Kubectl(ctx, UserAdmin, "apply", "--server-side", "-f", crdFile); err != nil {
		return nil, fmt.Errorf("install triggers CRDs: %w\n%s", err, out)
	}
	if out, err := c.Kubectl(ctx, UserAdmin, "wait", "--for", "condition=established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/part-of=tekton-triggers"); err != nil {
		return nil, fmt.Errorf("wait for triggers CRDs: %w\n%s", err, out)
	}
	if out, err := c.Kubectl(ctx, UserAdmin, "apply", "--server-side", "-f", file); err != nil {
		return nil, fmt.Errorf("install triggers: %w\n%s", err, out)
	}
	return deployments, nil
}

// startFromDeployment runs bin with the args and env of the Deployment's
// only container, as its ServiceAccount, in the namespace the Deployment
// is in.
func (c *Cluster) startFromDeployment(ctx context.Context, name, bin string, d *appsv1.Deployment, iso Isolation) (*Process, error) {
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		return nil, fmt.Errorf("deployment %s has %d containers, want 1", d.Name, len(spec.Containers))
	}
	kc, err := c.ServiceAccountKubeconfig(ctx, d.Namespace, spec.ServiceAccountName)
	if err != nil {
		return nil, err
	}
	ctr := spec.Containers[0]
	env, err := containerEnv(ctr, d.Namespace)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w", d.Name, err)
	}
	argv := append([]string{bin}, elImagePlaceholder(ctr.Args)...)
	argv = append(argv, "-kubeconfig", kc)
	return c.StartIsolated(ctx, name, argv, env, iso)
}

// elImagePlaceholder replaces the controller's ko:// EventListener image:
// nothing pulls it, as RunEventListener plays the EventListener's pod.
func elImagePlaceholder(args []string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		if strings.HasPrefix(a, "ko://") {
			out[i] = "127.0.0.1:5000/tekton-triggers/" + filepath.Base(a) + ":" + tools.TriggersVersion
		}
	}
	return out
}

// containerEnv turns a container's env into NAME=value pairs: literal
// values, and the pod's namespace where a fieldRef asks for it.
func containerEnv(ctr corev1.Container, ns string) ([]string, error) {
	var env []string
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env = append(env, e.Name+"="+ns)
		default:
			return nil, fmt.Errorf("env %s: only literal values and metadata.namespace are supported here", e.Name)
		}
	}
	return env, nil
}

// waitInterceptors waits until every https ClusterInterceptor carries a
// caBundle, and the interceptors answer /ready over TLS verified with it
// under their in-cluster name. It returns the bundle.
func (tr *Triggers) waitInterceptors(ctx context.Context) ([]byte, error) {
	dyn, err := dynamic.NewForConfig(tr.c.RESTConfig(UserAdmin))
	if err != nil {
		return nil, err
	}
	var bundle []byte
	err = waitFor(ctx, 60*time.Second, func() (bool, string, error) {
		if tr.Interceptors.Exited() {
			return false, "", fmt.Errorf("core interceptors exited:\n%s", logTail(tr.Interceptors.LogPath(), 20))
		}
		list, err := dyn.Resource(clusterInterceptors).List(ctx, metav1.ListOptions{LabelSelector: "server/type=https"})
		if err != nil {
			return false, err.Error(), nil
		}
		if len(list.Items) == 0 {
			return false, "no https ClusterInterceptors", nil
		}
		for _, ci := range list.Items {
			b, _, _ := unstructured.NestedString(ci.Object, "spec", "clientConfig", "caBundle")
			if b == "" {
				return false, "ClusterInterceptor " + ci.GetName() + " has no caBundle yet", nil
			}
			bundle = []byte(b)
		}
		return true, "", nil
	})
	if err != nil {
		return nil, fmt.Errorf("core interceptors: %w\n%s", err, logTail(tr.Interceptors.LogPath(), 20))
	}
	// The API returns caBundle ([]byte) base64-encoded.
	pem, err := base64.StdEncoding.DecodeString(string(bundle))
	if err != nil {
		return nil, fmt.Errorf("caBundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("caBundle holds no certificate")
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, ServerName: InterceptorsService + "." + TektonNamespace + ".svc", MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	url := "https://127.0.0.1:" + strconv.Itoa(interceptorsPort) + "/ready"
	if err := waitHTTP(ctx, tr.Interceptors, client, url, "", 30*time.Second); err != nil {
		return nil, fmt.Errorf("core interceptors: %w", err)
	}
	return pem, nil
}

// waitLease waits until p holds a leader-election Lease in ns whose name
// starts with prefix: then its informers have synced.
func (c *Cluster) waitLease(ctx context.Context, p *Process, ns, prefix string) error {
	client, err := kubernetes.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		return err
	}
	err = waitFor(ctx, readyTimeout, func() (bool, string, error) {
		if p.Exited() {
			return false, "", fmt.Errorf("%s exited", p.Name())
		}
		leases, err := client.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		for _, l := range leases.Items {
			if strings.HasPrefix(l.Name, prefix) && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("no lease %s* in %s yet", prefix, ns), nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", p.Name(), err, logTail(p.LogPath(), 30))
	}
	return nil
}

// apiPort is the apiserver's loopback port.
func (c *Cluster) apiPort() int {
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(c.Server, "https://"))
	n, _ := strconv.Atoi(port)
	return n
}

// portFree fails if the port is taken on the host.
func portFree(port int) error {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	return l.Close()
}
