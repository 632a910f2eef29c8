package localcluster

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// EventListener is the sink of one EventListener, running as a process.
type EventListener struct {
	*Process
	Namespace, Name string
	// URL is where the sink listens, http://127.0.0.1:<port>: what a git
	// server's webhook posts to.
	URL string
}

// RunEventListener runs the sink of EventListener ns/name in place of its
// pod. The Triggers controller reconciles the EventListener into
// Deployment el-<name> as in any cluster; this reads that Deployment's
// container (args, env, ServiceAccount) and runs the sink binary with
// exactly those, as that ServiceAccount, with two changes a cluster
// without kube-proxy and DNS needs:
//   - it listens on a free loopback port instead of the pod's 8080;
//   - it resolves the core interceptors' Service name
//     (tekton-triggers-core-interceptors.tekton-pipelines.svc) to
//     127.0.0.1, where they serve, through a hosts file only it sees. So it
//     calls them over TLS verified against the ClusterInterceptors'
//     caBundle under their in-cluster name, as in a cluster.
//
// The Deployment is scaled to zero (as an autoscaler would; the controller
// keeps a Deployment's replicas when the EventListener sets none): this
// process is its pod.
func (tr *Triggers) RunEventListener(ctx context.Context, ns, name string) (*EventListener, error) {
	c := tr.c
	client, err := kubernetes.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		return nil, err
	}
	var dep *appsv1.Deployment
	err = waitFor(ctx, 60*time.Second, func() (bool, string, error) {
		dep, err = client.AppsV1().Deployments(ns).Get(ctx, "el-"+name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "the triggers controller has not made Deployment el-" + name, nil
		}
		return err == nil, fmt.Sprint(err), nil
	})
	if err != nil {
		return nil, fmt.Errorf("eventlistener %s/%s: %w\n%s", ns, name, err, logTail(tr.Controller.LogPath(), 20))
	}
	if out, err := c.Kubectl(ctx, UserAdmin, "-n", ns, "scale", "deployment", dep.Name, "--replicas=0"); err != nil {
		return nil, fmt.Errorf("eventlistener %s/%s: %w\n%s", ns, name, err, out)
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	spec := dep.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		return nil, fmt.Errorf("deployment %s has %d containers, want 1", dep.Name, len(spec.Containers))
	}
	ctr := spec.Containers[0]
	env, err := containerEnv(ctr, ns)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w", dep.Name, err)
	}
	env = append(env, "METRICS_PROMETHEUS_PORT="+strconv.Itoa(ports[1]))
	kc, err := c.ServiceAccountKubeconfig(ctx, ns, spec.ServiceAccountName)
	if err != nil {
		return nil, err
	}
	argv := []string{c.Tools.TriggersSink}
	for _, a := range ctr.Args {
		if strings.HasPrefix(a, "--port=") {
			a = "--port=" + strconv.Itoa(ports[0])
		}
		argv = append(argv, a)
	}
	argv = append(argv, "--kubeconfig", kc)
	svc := InterceptorsService + "." + TektonNamespace + ".svc"
	p, err := c.StartIsolated(ctx, "el-"+ns+"-"+name, argv, env, Isolation{Hosts: map[string]string{
		svc: "127.0.0.1", svc + ".cluster.local": "127.0.0.1"}})
	if err != nil {
		return nil, err
	}
	el := &EventListener{Process: p, Namespace: ns, Name: name, URL: "http://127.0.0.1:" + strconv.Itoa(ports[0])}
	// The sink serves only once it has the interceptors' CA (it polls the
	// ClusterInterceptors every 10s).
	if err := waitHTTP(ctx, p, http.DefaultClient, el.URL+"/live", "", 90*time.Second); err != nil {
		return nil, fmt.Errorf("eventlistener %s/%s: %w", ns, name, err)
	}
	return el, nil
}
