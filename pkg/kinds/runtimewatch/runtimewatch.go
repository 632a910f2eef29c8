// Package runtimewatch is the RuntimeWatch custom-task kind: after a
// rollout, watch the new workload through ACS Central for a window, fail
// on what its containers did (and, if asked, scale it to zero), and never
// pass a workload Central could not see.
//
// The kind is thin: params → gate.WatchRuntime (the engine `modelguard acs
// watch` calls too) → results. The watch's window is measured from the
// attempt's status.startTime, which survives a controller restart, so a
// watch the new controller repeats covers the same window and ends when
// the first would have.
package runtimewatch

import (
	"context"
	"errors"
	"strings"

	"github.com/modelguard/modelguard/pkg/central"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/modelguard/modelguard/pkg/workload"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"k8s.io/client-go/kubernetes"
)

// Kind is RuntimeWatch.
type Kind struct {
	Central *central.Clients
	Kube    kubernetes.Interface
}

func (*Kind) Name() string { return "RuntimeWatch" }

func (*Kind) Params() []kinds.Param {
	arr := v1beta1.ParamTypeArray
	return []kinds.Param{
		{Name: "namespace", Description: "the workload's namespace (default: the run's); another namespace must have been handed to this run's (" + guard.OptInLabel + ")"},
		{Name: "deployment", Description: "the Deployment to watch, name or namespace/name as model-deploy's DEPLOYMENT result gives it (or inferenceservice)"},
		{Name: "inferenceservice", Description: "the InferenceService whose Deployments to watch (by KServe's " + workload.InferenceServiceLabel + " label)"},
		{Name: "window", Description: "how long to watch from the run's start, e.g. 5m (default 5m)"},
		{Name: "grace", Description: "how long to keep polling after the window before a pass (default 90s)"},
		{Name: "poll", Description: "how often to ask Central (default 10s)"},
		{Name: "severity", Description: "fail on alerts at or above LOW, MEDIUM, HIGH (default) or CRITICAL"},
		{Name: "include-deploy", Description: `"true": DEPLOY-stage alerts count as well as RUNTIME ones`},
		{Name: "deny-policies", Type: arr, Description: "policies that fail the watch at any severity"},
		{Name: "deny-categories", Type: arr, Description: "policy categories that fail the watch at any severity"},
		{Name: "allow-processes", Type: arr, Description: "container:/path executables the containers may run; anything else fails (empty: no check)"},
		{Name: "accept-inconclusive", Type: arr, Description: "inconclusive reasons that do not fail the run: " + strings.Join(gate.InconclusiveReasons, ", ")},
		{Name: "on-fail", Description: "none (default) or scale-to-zero: scale the watched Deployments to zero when the watch fails"},
		{Name: "acs-secret", Description: "Secret with endpoint and token, in this namespace (default " + central.DefaultSecret + ")"},
	}
}

type spec struct {
	in     gate.WatchInput
	ref    workload.Ref
	secret string
}

// Plan checks params without I/O.
func (k *Kind) Plan(req kinds.Request) (kinds.Job, error) {
	p := req.Params
	include, err := p.Bool("include-deploy", false)
	if err != nil {
		return nil, err
	}
	opts := gate.WatchOptions{Window: p.String("window", ""), Grace: p.String("grace", ""), Poll: p.String("poll", ""),
		Severity: p.String("severity", ""), IncludeDeploy: include, DenyPolicies: p.Array("deny-policies"),
		DenyCategories: p.Array("deny-categories"), AllowProcesses: p.Array("allow-processes"),
		AcceptInconclusive: p.Array("accept-inconclusive"), OnFail: p.String("on-fail", "")}
	policy, timing, onFail, err := opts.Parse()
	if err != nil {
		return nil, paramErrors(err)
	}
	s := spec{secret: p.String("acs-secret", central.DefaultSecret)}
	ref, err := workload.Ref{Namespace: p.String("namespace", ""), Deployment: p.String("deployment", ""), InferenceService: p.String("inferenceservice", "")}.
		Resolve(func() (string, error) { return req.Namespace, nil })
	var refErr *workload.RefError
	if errors.As(err, &refErr) {
		return nil, kinds.Invalid(refErr.Field, "%s", refErr.Problem)
	}
	s.ref = ref
	s.in = gate.WatchInput{Start: req.Started, Timing: timing, Policy: policy, OnFail: onFail, Wait: req.Idle,
		Workloads: &workload.Workloads{Kube: k.Kube, Ref: s.ref, From: req.Namespace, Rollback: onFail == gate.OnFailScaleToZero}}
	return func(ctx context.Context) (results.Results, error) { return k.run(ctx, req, s) }, nil
}

func (k *Kind) run(ctx context.Context, req kinds.Request, s spec) (results.Results, error) {
	c := k.Central.Runtime(ctx, req.Namespace, s.secret)
	r, err := gate.WatchRuntime(ctx, c, s.in, func(p gate.WatchProgress) { req.ReportProgress(p) })
	if err != nil {
		return nil, err
	}
	return kinds.FromGate(ctx, r.Verdict, r.Results())
}

// paramErrors names each bad option by its param.
func paramErrors(err error) error {
	var oes gate.OptionErrors
	if !errors.As(err, &oes) {
		return err
	}
	errs := make([]error, len(oes))
	for i, oe := range oes {
		errs[i] = kinds.Invalid(oe.Option, "%s", oe.Problem)
	}
	return errors.Join(errs...)
}
