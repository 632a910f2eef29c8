package namespaceguard

import (
	"errors"
	"strings"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/pkg/kinds"
)

// SpecFromParams builds a guard.Spec from checked params. Every problem is
// a *kinds.ParamError naming the param.
func SpecFromParams(v kinds.Values) (*guard.Spec, guard.Mode, error) {
	spec := &guard.Spec{
		Namespace:   v.String("namespace", ""),
		Profile:     guard.Profile(v.String("profile", "")),
		Quota:       v.Object("quota"),
		Limits:      v.Object("limits"),
		PodSecurity: v.String("pod-security", ""),
		Subjects:    map[guard.Persona]guard.Subjects{},
	}
	var errs []error
	mode, err := guard.ParseMode(v.String("mode", string(guard.ModeApply)))
	if err != nil {
		errs = append(errs, kinds.Invalid("mode", "%v", err))
	}
	for _, p := range guard.Personas {
		spec.Subjects[p] = guard.Subjects{Groups: v.Array(string(p) + "-groups"), Users: v.Array(string(p) + "-users")}
	}
	for _, s := range v.Array("ingress") {
		src, err := guard.ParseIngress(s)
		if err != nil {
			errs = append(errs, kinds.Invalid("ingress", "%v", err))
			continue
		}
		spec.Ingress = append(spec.Ingress, src)
	}
	for _, s := range v.Array("egress") {
		e, err := guard.ParseEgress(s)
		if err != nil {
			errs = append(errs, kinds.Invalid("egress", "%v", err))
			continue
		}
		spec.Egress = append(spec.Egress, e)
	}
	if err := spec.Validate(); err != nil {
		errs = append(errs, paramErrors(err)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	return spec, mode, nil
}

// paramErrors renames guard.Spec fields to the params that set them.
func paramErrors(err error) []error {
	var out []error
	errs := unjoin(err)
	if le, ok := err.(*guard.LimitError); ok {
		errs = nil
		for _, f := range le.Fields {
			errs = append(errs, f)
		}
	}
	for _, e := range errs {
		var fe *guard.FieldError
		if !errors.As(e, &fe) {
			out = append(out, e)
			continue
		}
		param, problem := paramFor(fe), fe.Problem
		if fe.Field == "Quota" || fe.Field == "Limits" {
			problem = "key " + kinds.Quote(fe.Key) + ": " + problem
		}
		out = append(out, kinds.Invalid(param, "%s", problem))
	}
	return out
}

func paramFor(fe *guard.FieldError) string {
	switch fe.Field {
	case "Groups":
		return fe.Key + "-groups"
	case "Users":
		return fe.Key + "-users"
	case "PodSecurity":
		return "pod-security"
	}
	return strings.ToLower(fe.Field)
}

func joinMessages(errs []error) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
