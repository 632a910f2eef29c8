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
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

// Modes of a run.
const (
	ModeApply  = "apply"  // make the namespace match, then prove access with the matrix
	ModeDiff   = "diff"   // dry run: report what apply would change, write nothing
	ModeVerify = "verify" // fail on drift (hand edits) or on any access-matrix mismatch
)

// Failure reasons on the CustomRun.
const (
	ReasonNotOptedIn       = "NotOptedIn"
	ReasonNamespaceMissing = "NamespaceNotFound"
	ReasonDrift            = "Drift"
	ReasonAccessMismatch   = "AccessMatrixMismatch"
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
		{Name: "namespace", Required: true, Description: "the namespace to guard; it must carry the label " + guard.OptInLabel + "=<this run's namespace>"},
		{Name: "profile", Description: "dev (default), staging or prod"},
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
	return func(ctx context.Context) (kinds.Results, error) {
		return k.run(ctx, req.Namespace, spec, mode)
	}, nil
}

// run guards spec.Namespace on behalf of a run in namespace from; the
// target must have opted in for from (the controller's door never acts on
// a namespace nobody handed to the run's namespace).
func (k *Kind) run(ctx context.Context, from string, spec *guard.Spec, mode string) (kinds.Results, error) {
	var changes []guard.Change
	var err error
	if mode == ModeApply {
		changes, err = k.Engine.Apply(ctx, spec, from)
	} else {
		changes, err = k.Engine.Plan(ctx, spec, from)
	}
	switch {
	case errors.Is(err, guard.ErrNotOptedIn):
		return nil, kinds.Deny(ReasonNotOptedIn, nil, "%v", err)
	case errors.Is(err, guard.ErrNamespaceNotFound):
		return nil, kinds.Deny(ReasonNamespaceMissing, nil, "namespace %q does not exist; the guard locks a namespace down, it does not create one", spec.Namespace)
	case err != nil:
		return nil, err
	}
	res := changeResults(changes)
	if mode == ModeDiff {
		return append(res, kinds.Result{Name: "summary", Value: "dry run: " + summaryLine(changes, nil)}), nil
	}
	checks, err := k.Engine.Verify(ctx, spec)
	if err != nil {
		return nil, err
	}
	res = append(res, kinds.Result{Name: "summary", Value: summaryLine(changes, checks)}, kinds.Result{Name: "access-matrix", Value: matrixResult(checks)})
	if mode == ModeVerify {
		if drifted := driftRefs(changes); len(drifted) > 0 {
			return nil, kinds.Deny(ReasonDrift, res, "guarded objects differ from the guard (hand edits?): %s", strings.Join(drifted, ", "))
		}
	}
	if bad := guard.Mismatches(checks); len(bad) > 0 {
		return nil, kinds.Deny(ReasonAccessMismatch, res, "%d of %d access checks did not match the persona matrix, first: %s", len(bad), len(checks), describe(bad[0]))
	}
	return res, nil
}

// changeResults lists object refs by action: results "created",
// "changed", "unchanged", "deleted" (comma-separated, always written).
func changeResults(changes []guard.Change) kinds.Results {
	by := map[string][]string{}
	for _, c := range changes {
		by[c.Action] = append(by[c.Action], c.Ref)
	}
	var out kinds.Results
	for _, a := range []string{guard.Created, guard.Changed, guard.Unchanged, guard.Deleted} {
		out = append(out, kinds.Result{Name: a, Value: fit(strings.Join(by[a], ","), 1024)})
	}
	return out
}

func driftRefs(changes []guard.Change) []string {
	var out []string
	for _, c := range changes {
		if c.Action != guard.Unchanged {
			out = append(out, c.Ref+" ("+c.Action+")")
		}
	}
	return out
}

func summaryLine(changes []guard.Change, checks []guard.Check) string {
	n := guard.Summary(changes)
	s := fmt.Sprintf("created %d, changed %d, unchanged %d, deleted %d", n[guard.Created], n[guard.Changed], n[guard.Unchanged], n[guard.Deleted])
	if checks != nil {
		s += fmt.Sprintf("; access matrix %d/%d as intended", len(checks)-len(guard.Mismatches(checks)), len(checks))
	}
	return s
}

// matrixResult is the access matrix in one result: a line per persona with
// its score, then every mismatch. The CLI prints the full matrix.
func matrixResult(checks []guard.Check) string {
	var b strings.Builder
	for _, p := range guard.Personas {
		total, ok := 0, 0
		for _, c := range checks {
			if c.Persona == p {
				total++
				if c.OK() {
					ok++
				}
			}
		}
		if total > 0 {
			fmt.Fprintf(&b, "%s: %d/%d as intended\n", p, ok, total)
		}
	}
	for _, c := range guard.Mismatches(checks) {
		fmt.Fprintf(&b, "MISMATCH %s\n", describe(c))
	}
	return fit(strings.TrimSuffix(b.String(), "\n"), 3000)
}

func describe(c guard.Check) string {
	word := func(b bool) string {
		if b {
			return "allowed"
		}
		return "denied"
	}
	return fmt.Sprintf("%s %s %s: want %s, got %s", c.Persona, c.Subject, c.Access, word(c.Want), word(c.Got))
}

// fit keeps a result under a size, saying how much was cut.
func fit(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-40] + fmt.Sprintf("… (%d bytes cut)", len(s)-(n-40))
}
