package guard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ErrNotOptedIn is returned when a cluster admin has not handed the target
// namespace to the requesting one (OptInLabel, OptInUIDAnnotation), has
// not declared its profile, or wrote limits the guard cannot read.
var ErrNotOptedIn = errors.New("namespace has not opted in")

// target fetches the namespace to guard and the admin's limits on it. For
// a run on behalf of a pipeline namespace (from != ""), the target must
// have been handed to that very namespace: named by OptInLabel, bound to
// its UID, and never to itself.
func (e *Engine) target(ctx context.Context, name, from string) (*unstructured.Unstructured, *Limits, error) {
	ns, err := e.Dynamic.Resource(namespaceGVR).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("%w: %s", ErrNamespaceNotFound, name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get namespace %s: %w", name, err)
	}
	limits, err := ReadLimits(name, ns.GetLabels(), ns.GetAnnotations())
	if err != nil {
		return nil, nil, notOptedIn("%v", err)
	}
	if from != "" {
		if err := e.handedTo(ctx, limits, from); err != nil {
			return nil, nil, err
		}
	}
	if limits.Profile == "" {
		return nil, nil, notOptedIn("namespace %q has no label %s: a cluster admin declares what it serves (the admission policies select on it): kubectl label namespace %s %s=<dev|staging|prod>",
			name, NamespaceProfileLabel, name, NamespaceProfileLabel)
	}
	return ns, limits, nil
}

// handedTo checks the opt-in of the target (limits.Namespace) for runs
// from namespace from.
func (e *Engine) handedTo(ctx context.Context, l *Limits, from string) error {
	name := l.Namespace
	if from == name {
		return notOptedIn("namespace %q is the run's own namespace: a namespace cannot guard itself, or whoever may start runs in it would choose its guard", name)
	}
	if l.From != from {
		return notOptedIn("namespace %q may be guarded only from the namespace named by its label %s (it is %q); a cluster admin opts it in with: kubectl label namespace %s %s=%s",
			name, OptInLabel, l.From, name, OptInLabel, from)
	}
	src, err := e.Kube.CoreV1().Namespaces().Get(ctx, from, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return notOptedIn("namespace %q, named by %s on %q, does not exist", from, OptInLabel, name)
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", from, err)
	}
	bind := fmt.Sprintf("kubectl annotate --overwrite namespace %s %s=$(kubectl get namespace %s -o jsonpath='{.metadata.uid}')", name, OptInUIDAnnotation, from)
	switch l.FromUID {
	case "":
		return notOptedIn("namespace %q names %q only by name; a cluster admin binds the hand-over to that namespace's UID, so a namespace re-created under the name does not inherit it: %s", name, from, bind)
	case string(src.UID):
		return nil
	}
	return notOptedIn("namespace %q was handed to a namespace %q with UID %q, but %q now has UID %q: it was deleted and created again, and the new one inherits nothing; a cluster admin may hand it over again: %s",
		name, from, l.FromUID, from, src.UID, bind)
}

func notOptedIn(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotOptedIn, fmt.Sprintf(format, args...))
}

// sensitiveEgress is SensitiveEgress plus the addresses the API server
// publishes: the ClusterIPs of Service default/kubernetes and the
// addresses of its EndpointSlice. An API server behind a load balancer at
// another address is not known here (see the README).
func (e *Engine) sensitiveEgress(ctx context.Context) ([]Sensitive, error) {
	var addrs []netip.Addr
	svc, err := e.Kube.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	switch {
	case err == nil:
		for _, ip := range svc.Spec.ClusterIPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				addrs = append(addrs, a)
			}
		}
	case !apierrors.IsNotFound(err):
		return nil, apiServerUnknown(err)
	}
	eps, err := e.Kube.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	switch {
	case err == nil:
		for _, ep := range eps.Endpoints {
			for _, ip := range ep.Addresses {
				if a, err := netip.ParseAddr(ip); err == nil {
					addrs = append(addrs, a)
				}
			}
		}
	case !apierrors.IsNotFound(err):
		return nil, apiServerUnknown(err)
	}
	return append(append([]Sensitive(nil), SensitiveEgress...), APIServerEgress(addrs)...), nil
}

func apiServerUnknown(err error) error {
	return fmt.Errorf("read the API server's addresses (Service and EndpointSlice default/kubernetes), which egress must never reach: %w", err)
}
