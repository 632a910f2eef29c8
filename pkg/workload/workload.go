// Package workload finds the Kubernetes Deployments behind what a pipeline
// deployed — a Deployment by name, or an InferenceService through the
// labels KServe puts on its Deployments — and scales them to zero when a
// runtime watch fails. It is the Kubernetes side of gate.WatchRuntime
// (gate.Workloads).
//
// It acts on another namespace only for a run that namespace was handed
// to (guard.HandedTo, the NamespaceGuard opt-in), and a rollback always
// needs that hand-over: scaling a workload to zero is an action on it, not
// a look, so a run never rolls back in its own namespace (a namespace is
// never handed to itself).
package workload

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/guard"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// InferenceServiceLabel is the label KServe sets on the Deployments of an
// InferenceService (every predictor, transformer and explainer revision).
const InferenceServiceLabel = "serving.kserve.io/inferenceservice"

// MaxDeployments bounds how many Deployments one InferenceService may
// resolve to; more is a mistake (or a label someone else set).
const MaxDeployments = 16

// Ref names the workload to watch: exactly one of Deployment and
// InferenceService, in Namespace.
type Ref struct {
	Namespace        string
	Deployment       string
	InferenceService string
}

// RefError names the field of a Ref that is wrong (namespace, deployment
// or inferenceservice: the param and flag names of both doors).
type RefError struct{ Field, Problem string }

func (e *RefError) Error() string { return e.Field + ": " + e.Problem }

// Resolve is how both doors read a Ref from their params or flags: a
// Deployment given as namespace/name (model-deploy's DEPLOYMENT result)
// splits into Namespace and Deployment, a Namespace still empty is the
// door's default (the run's, or the kubeconfig's), and the result is
// validated. Every problem is a *RefError naming its field.
func (r Ref) Resolve(defaultNamespace func() (string, error)) (Ref, error) {
	r, err := r.split()
	if err != nil {
		return r, err
	}
	if r.Namespace == "" {
		ns, err := defaultNamespace()
		if err != nil {
			return r, &RefError{"namespace", err.Error()}
		}
		r.Namespace = ns
	}
	return r, r.Validate()
}

// split reads a Deployment given as namespace/name into Namespace and
// Deployment. A Namespace given as well must be the same: the workload is
// never silently looked for somewhere else.
func (r Ref) split() (Ref, error) {
	ns, name, ok := strings.Cut(r.Deployment, "/")
	if !ok {
		return r, nil
	}
	if ns == "" {
		return r, &RefError{"deployment", fmt.Sprintf("%q: want name or namespace/name", short(r.Deployment))}
	}
	if r.Namespace != "" && r.Namespace != ns {
		return r, &RefError{"deployment", fmt.Sprintf("%q names namespace %q, but namespace is %q", short(r.Deployment), short(ns), short(r.Namespace))}
	}
	r.Namespace, r.Deployment = ns, name
	return r, nil
}

// Validate names the first field that is wrong, as a *RefError.
func (r Ref) Validate() error {
	switch {
	case len(validation.IsDNS1123Label(r.Namespace)) > 0:
		return &RefError{"namespace", fmt.Sprintf("%q is not a namespace name", short(r.Namespace))}
	case (r.Deployment == "") == (r.InferenceService == ""):
		return &RefError{"deployment", "name exactly one of a deployment and an inferenceservice"}
	case r.Deployment != "" && len(validation.IsDNS1123Subdomain(r.Deployment)) > 0:
		return &RefError{"deployment", fmt.Sprintf("%q is not a Deployment name", short(r.Deployment))}
	case r.InferenceService != "" && len(validation.IsDNS1035Label(r.InferenceService)) > 0:
		return &RefError{"inferenceservice", fmt.Sprintf("%q is not an InferenceService name", short(r.InferenceService))}
	}
	return nil
}

// Workloads implements gate.Workloads for one Ref.
type Workloads struct {
	Kube kubernetes.Interface
	Ref  Ref
	// From is the namespace of the run that asks, or "" for a person's own
	// credentials (then Kubernetes RBAC alone decides, as for `modelguard
	// guard`).
	From string
	// Rollback says a fail will scale the workload to zero: Resolve then
	// checks the opt-in up front, even in From itself, so a watch that
	// could never roll back fails before it starts rather than at its end.
	Rollback bool
}

var _ gate.Workloads = (*Workloads)(nil)

// Reasons a workload cannot be watched or rolled back.
const (
	ReasonNotFound   = "WorkloadNotFound"
	ReasonForbidden  = "WorkloadForbidden"
	ReasonNotOptedIn = "NotOptedIn"
)

// Error is a problem with the workload, with the reason a door reports.
type Error struct {
	reason, msg string
}

func (e *Error) Error() string  { return e.msg }
func (e *Error) Reason() string { return e.reason }

func fail(reason, format string, args ...any) *Error {
	return &Error{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// Resolve finds the Deployments, by UID.
func (w *Workloads) Resolve(ctx context.Context) ([]gate.Target, error) {
	if err := w.Ref.Validate(); err != nil {
		return nil, fail(gate.ReasonInput, "%v", err)
	}
	ns := w.Ref.Namespace
	if w.From != "" && (ns != w.From || w.Rollback) {
		if err := w.optedIn(ctx); err != nil {
			return nil, err
		}
	}
	deps := w.Kube.AppsV1().Deployments(ns)
	if name := w.Ref.Deployment; name != "" {
		d, err := deps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, w.apiError(err, "read Deployment "+ns+"/"+name, "Deployment %s/%s does not exist", ns, name)
		}
		return []gate.Target{target(d)}, nil
	}
	sel := labels.SelectorFromSet(labels.Set{InferenceServiceLabel: w.Ref.InferenceService}).String()
	list, err := deps.List(ctx, metav1.ListOptions{LabelSelector: sel, Limit: MaxDeployments + 1})
	if err != nil {
		return nil, w.apiError(err, "list the Deployments of InferenceService "+ns+"/"+w.Ref.InferenceService, "")
	}
	switch n := len(list.Items); {
	case n == 0:
		return nil, fail(ReasonNotFound, "no Deployment in %s is labelled %s (is the InferenceService reconciled, in RawDeployment mode?)", ns, sel)
	case n > MaxDeployments || list.Continue != "":
		return nil, fail(gate.ReasonInput, "more than %d Deployments in %s are labelled %s", MaxDeployments, ns, sel)
	}
	out := make([]gate.Target, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, target(&list.Items[i]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ScaleToZero sets each target's replicas to 0 through the scale
// subresource, after checking the namespace opted in and that the
// Deployment there is still the one watched (same UID): a Deployment
// deleted and created again under the same name is left alone. Repeating
// it is harmless.
func (w *Workloads) ScaleToZero(ctx context.Context, targets []gate.Target) ([]string, error) {
	if err := w.optedIn(ctx); err != nil {
		return nil, err
	}
	var done []string
	for _, t := range targets {
		scales := w.Kube.AppsV1().Deployments(t.Namespace)
		sc, err := scales.GetScale(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return done, w.apiError(err, "read the scale of "+t.Namespace+"/"+t.Name, "Deployment %s/%s is gone", t.Namespace, t.Name)
		}
		if string(sc.UID) != t.UID {
			return done, fail(ReasonNotFound, "Deployment %s/%s is no longer the one watched (uid %s, now %s); not scaled", t.Namespace, t.Name, t.UID, sc.UID)
		}
		if sc.Spec.Replicas != 0 {
			sc.Spec.Replicas = 0
			if _, err := scales.UpdateScale(ctx, t.Name, sc, metav1.UpdateOptions{FieldManager: "modelguard"}); err != nil {
				return done, w.apiError(err, "scale "+t.Namespace+"/"+t.Name+" to zero", "")
			}
		}
		done = append(done, "Deployment/"+t.Namespace+"/"+t.Name)
	}
	return done, nil
}

// optedIn asks guard.HandedTo about the workload's namespace.
func (w *Workloads) optedIn(ctx context.Context) error {
	if w.From == "" {
		return nil
	}
	err := guard.HandedTo(ctx, w.Kube, w.Ref.Namespace, w.From)
	switch {
	case errors.Is(err, guard.ErrNotOptedIn):
		return fail(ReasonNotOptedIn, "%v", err)
	case errors.Is(err, guard.ErrNamespaceNotFound):
		return fail(ReasonNotFound, "namespace %s does not exist", w.Ref.Namespace)
	case err != nil:
		return w.apiError(err, "read namespace "+w.Ref.Namespace, "")
	}
	return nil
}

// apiError explains an API error: NotFound and Forbidden get their own
// reasons, Forbidden says which role the namespace must bind.
func (w *Workloads) apiError(err error, what, notFound string, args ...any) error {
	switch {
	case apierrors.IsNotFound(err) && notFound != "":
		return fail(ReasonNotFound, notFound, args...)
	case apierrors.IsForbidden(err):
		return fail(ReasonForbidden, "%s: forbidden; the namespace must bind ClusterRole %s (to watch) or %s (to roll back) to the controller or the Task's ServiceAccount: %v",
			what, ReaderRole, RollbackRole, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// The opt-in ClusterRoles (config/) a serving namespace binds.
const (
	ReaderRole   = "modelguard-workload-reader"
	RollbackRole = "modelguard-rollback"
)

func target(d *appsv1.Deployment) gate.Target {
	return gate.Target{UID: string(d.UID), Name: d.Name, Namespace: d.Namespace}
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
