package customrun

import (
	"fmt"
	"sort"
	"strings"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"k8s.io/apimachinery/pkg/types"
)

// planError is a permanent failure found before any work starts.
type planError struct {
	reason  string
	message string
}

func (e *planError) Error() string { return e.reason + ": " + e.message }

// ours reports whether a CustomRun is addressed to modelguard. It filters
// on the apiVersion alone so that a run naming a kind we do not have fails
// with a clear reason instead of waiting forever for nobody.
func ours(obj any) bool {
	run, ok := obj.(*v1beta1.CustomRun)
	if !ok || run == nil {
		return false
	}
	switch {
	case run.Spec.CustomRef != nil:
		return run.Spec.CustomRef.APIVersion == kinds.APIVersion
	case run.Spec.CustomSpec != nil:
		return run.Spec.CustomSpec.APIVersion == kinds.APIVersion
	}
	return false
}

func kindOf(run *v1beta1.CustomRun) string {
	switch {
	case run.Spec.CustomRef != nil:
		return string(run.Spec.CustomRef.Kind)
	case run.Spec.CustomSpec != nil:
		return run.Spec.CustomSpec.Kind
	}
	return ""
}

// plan resolves the kind and validates the params. Every error is a
// *planError: nothing here can get better by retrying.
func (r *Reconciler) plan(run *v1beta1.CustomRun) (kinds.Kind, kinds.Job, error) {
	name := kindOf(run)
	kind, ok := r.kinds[name]
	if !ok {
		return nil, nil, &planError{ReasonUnknownKind, fmt.Sprintf("%s has no kind %s; known kinds: %s", kinds.APIVersion, kinds.Quote(name), r.kindNames())}
	}
	if ref := run.Spec.CustomRef; ref != nil && ref.Name != "" {
		return nil, nil, &planError{ReasonUnsupportedRef, fmt.Sprintf("customRef.name %s is not supported: %s takes its input from params only", kinds.Quote(ref.Name), name)}
	}
	if spec := run.Spec.CustomSpec; spec != nil && len(spec.Spec.Raw) > 0 && string(spec.Spec.Raw) != "{}" && string(spec.Spec.Raw) != "null" {
		return nil, nil, &planError{ReasonUnsupportedRef, fmt.Sprintf("customSpec.spec is not supported: %s takes its input from params only", name)}
	}
	if len(run.Spec.Workspaces) > 0 {
		return nil, nil, &planError{v1beta1.CustomRunReasonWorkspaceNotSupported.String(), fmt.Sprintf("%s does not use workspaces; remove workspace %s", name, kinds.Quote(run.Spec.Workspaces[0].Name))}
	}
	vals, err := kinds.Check(kind.Params(), run.Spec.Params)
	if err != nil {
		return nil, nil, &planError{ReasonInvalidParams, oneLine(err.Error())}
	}
	req := kinds.Request{Namespace: run.Namespace, Name: run.Name, Attempt: run.GetRetryCount(), Params: vals, Idle: r.jobs.idle}
	if run.Status.StartTime != nil {
		req.Started = run.Status.StartTime.Time
	}
	k := jobKey{run: types.NamespacedName{Namespace: run.Namespace, Name: run.Name}, uid: run.UID, attempt: req.Attempt}
	req.Progress = func(v any) { r.jobs.report(k, v) }
	job, err := kind.Plan(req)
	if err != nil {
		return nil, nil, &planError{ReasonInvalidParams, oneLine(err.Error())}
	}
	return kind, job, nil
}

func (r *Reconciler) kindNames() string {
	ns := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		return "none"
	}
	sort.Strings(ns)
	return strings.Join(ns, ", ")
}

// oneLine joins a multi-error into one condition message.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
