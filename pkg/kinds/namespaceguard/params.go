package namespaceguard

import (
	"errors"
	"strings"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/pkg/kinds"
)

// SpecFromParams builds a guard.Spec from checked params. Every problem is
// a *kinds.ParamError naming the param.
func SpecFromParams(v kinds.Values) (*guard.Spec, string, error) {
	spec := &guard.Spec{
		Namespace:   v.String("namespace", ""),
		Profile:     guard.Profile(v.String("profile", "dev")),
		Quota:       v.Object("quota"),
		Limits:      v.Object("limits"),
		PodSecurity: v.String("pod-security", ""),
		Subjects:    map[guard.Persona]guard.Subjects{},
	}
	var errs []error
	mode := v.String("mode", ModeApply)
	if mode != ModeApply && mode != ModeDiff && mode != ModeVerify {
		errs = append(errs, kinds.Invalid("mode", "%s: want apply, diff or verify", kinds.Quote(mode)))
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
	for _, e := range unjoin(err) {
		var fe *guard.FieldError
		if !errors.As(e, &fe) {
			out = append(out, e)
			continue
		}
		problem := fe.Problem
		if key, ok := mapKey(fe.Field); ok {
			problem = "key " + kinds.Quote(key) + ": " + problem
		}
		out = append(out, kinds.Invalid(paramFor(fe.Field), "%s", problem))
	}
	return out
}

func paramFor(field string) string {
	switch {
	case field == "Namespace":
		return "namespace"
	case field == "Profile":
		return "profile"
	case field == "PodSecurity":
		return "pod-security"
	case strings.HasPrefix(field, "Quota["):
		return "quota"
	case strings.HasPrefix(field, "Limits["):
		return "limits"
	case strings.HasPrefix(field, "Subjects["):
		persona := strings.TrimSuffix(strings.TrimPrefix(field, "Subjects["), "].Groups")
		if strings.HasSuffix(field, "].Users") {
			return strings.TrimSuffix(strings.TrimPrefix(field, "Subjects["), "].Users") + "-users"
		}
		return persona + "-groups"
	}
	return field
}

// mapKey returns k from "Quota[k]" or "Limits[k]".
func mapKey(field string) (string, bool) {
	for _, prefix := range []string{"Quota[", "Limits["} {
		if rest, ok := strings.CutPrefix(field, prefix); ok {
			return strings.TrimSuffix(rest, "]"), true
		}
	}
	return "", false
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
