// Package namespaceguard is the NamespaceGuard custom-task kind: params in,
// pkg/guard engine call, CustomRun results out.
package namespaceguard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

// Failure reasons on the CustomRun besides guard.ReasonDrift and
// guard.ReasonAccessMismatch.
const (
	ReasonNotOptedIn       = "NotOptedIn"
	ReasonNamespaceMissing = "NamespaceNotFound"
	// ReasonLimitExceeded: the run asked for more than the cluster admin
	// allows in the target namespace; the message names each param and
	// the limit.
	ReasonLimitExceeded = "LimitExceeded"
)

// Kind is NamespaceGuard.
type Kind struct {
	Engine *guard.Engine
}

func (*Kind) Name() string { return "NamespaceGuard" }

func (*Kind) Params() []kinds.Param {
	arr := v1beta1.ParamTypeArray
	obj := v1beta1.ParamTypeObject
	ps := []kinds.Param{
		{Name: "namespace", Required: true, Description: "the namespace to guard; a cluster admin hands it to this run's namespace with the label " + guard.OptInLabel + " and the annotation " + guard.OptInUIDAnnotation},
		{Name: "profile", Description: "dev, staging or prod; it must be the profile the cluster admin declared on the namespace (label " + guard.NamespaceProfileLabel + "), which is the default"},
		{Name: "ingress", Type: arr, Description: "allowed sources: openshift-router, monitoring, knative, istio, namespace:<name>"},
		{Name: "egress", Type: arr, Description: "allowed destinations besides DNS: CIDR or CIDR:port"},
		{Name: "quota", Type: obj, Description: "ResourceQuota overrides: cpu, memory, gpu, pods, storage, ephemeral-storage, pvcs, services, configmaps, secrets, inferenceservices"},
		{Name: "limits", Type: obj, Description: "LimitRange overrides: default-cpu, default-memory, default-request-cpu, default-request-memory, max-gpu"},
		{Name: "pod-security", Description: "Pod Security level enforced: restricted (default), baseline or privileged"},
		{Name: "mode", Description: "apply (default), diff (dry run) or verify"},
	}
	for _, p := range guard.Personas {
		ps = append(ps,
			kinds.Param{Name: string(p) + "-groups", Type: arr, Description: "groups given the " + string(p) + " persona"},
			kinds.Param{Name: string(p) + "-users", Type: arr, Description: "users given the " + string(p) + " persona"})
	}
	return ps
}

// Plan turns params into a guard.Spec and checks it without I/O.
func (k *Kind) Plan(req kinds.Request) (kinds.Job, error) {
	spec, mode, err := SpecFromParams(req.Params)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (results.Results, error) {
		return k.run(ctx, req.Namespace, spec, mode)
	}, nil
}

// run guards spec.Namespace on behalf of a run in namespace from; the
// target must have opted in for from, so this door never acts on a
// namespace nobody handed to the run's namespace.
func (k *Kind) run(ctx context.Context, from string, spec *guard.Spec, mode guard.Mode) (results.Results, error) {
	report, err := k.Engine.Run(ctx, spec, mode, from)
	var limits *guard.LimitError
	switch {
	case errors.As(err, &limits):
		return nil, refuse(ReasonLimitExceeded, "%s", joinMessages(paramErrors(limits)))
	case errors.Is(err, guard.ErrNotOptedIn):
		return nil, refuse(ReasonNotOptedIn, "%v", kinds.Invalid("namespace", "%v", err))
	case errors.Is(err, guard.ErrNamespaceNotFound):
		return nil, refuse(ReasonNamespaceMissing, "namespace %q does not exist; the guard locks a namespace down, it does not create one", spec.Namespace)
	case err != nil:
		return nil, err
	}
	res := Results(report)
	if reason, msg := report.Problem(); reason != "" {
		return nil, kinds.Deny(reason, res, "%s", msg)
	}
	return res, nil
}

// refuse fails a run that wrote nothing; its results are still all
// written, the summary saying why.
func refuse(reason, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	res := Results(&guard.Report{})
	for i := range res {
		if res[i].Name == "summary" {
			res[i].Value = fit("nothing written: "+msg, 1024)
		}
	}
	return kinds.Deny(reason, res, "%s", msg)
}

// Results are the run's results, always all written: "created",
// "changed", "unchanged", "deleted", "foreign" (comma-separated object
// refs), "summary" and "access-matrix" (empty in diff mode).
func Results(r *guard.Report) results.Results {
	var out results.Results
	for _, a := range []string{guard.Created, guard.Changed, guard.Unchanged, guard.Deleted, guard.Foreign} {
		out = append(out, results.Result{Name: a, Value: fit(strings.Join(r.Refs(a), ","), 1024)})
	}
	return append(out,
		results.Result{Name: "summary", Value: r.Summary()},
		results.Result{Name: "access-matrix", Value: fit(r.MatrixSummary(), 3000)})
}

// fit keeps a result under a size, saying how much was cut.
func fit(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-40] + fmt.Sprintf("… (%d bytes cut)", len(s)-(n-40))
}
