package kinds

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

// Param declares one param of a kind.
type Param struct {
	Name        string
	Type        v1beta1.ParamType // string (default), array or object
	Required    bool
	Description string
	// MaxBytes overrides DefaultMaxParamBytes for params that carry
	// documents (manifests, allow-lists).
	MaxBytes int
}

func (p Param) typ() v1beta1.ParamType {
	if p.Type == "" {
		return v1beta1.ParamTypeString
	}
	return p.Type
}

func (p Param) maxBytes() int {
	if p.MaxBytes > 0 {
		return p.MaxBytes
	}
	return DefaultMaxParamBytes
}

// ParamError says which param is wrong and how. Its message is shown to
// users in the CustomRun's condition, so it never quotes a whole value.
type ParamError struct {
	Param   string
	Problem string
}

func (e *ParamError) Error() string { return "param " + Quote(e.Param) + ": " + e.Problem }

// Quote quotes a name or value from user input for a message, cut to 64
// bytes so that a huge input cannot make a huge condition or Event.
func Quote(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + fmt.Sprintf("… (%d bytes)", len(s))
}

// Invalid builds a *ParamError.
func Invalid(param, format string, args ...any) *ParamError {
	return &ParamError{Param: param, Problem: fmt.Sprintf(format, args...)}
}

// Values are a run's params after Check: every name is declared and every
// value has the declared type.
type Values map[string]v1beta1.ParamValue

// String returns a string param, or def when it was not given.
func (v Values) String(name, def string) string {
	if pv, ok := v[name]; ok {
		return pv.StringVal
	}
	return def
}

// Array returns an array param, or nil when it was not given.
func (v Values) Array(name string) []string {
	return slices.Clone(v[name].ArrayVal)
}

// Object returns an object param, or nil when it was not given.
func (v Values) Object(name string) map[string]string {
	pv, ok := v[name]
	if !ok {
		return nil
	}
	out := make(map[string]string, len(pv.ObjectVal))
	for k, val := range pv.ObjectVal {
		out[k] = val
	}
	return out
}

// Bool returns a "true"/"false" param, or def when it was not given; any
// other value is a *ParamError naming the param.
func (v Values) Bool(name string, def bool) (bool, error) {
	s, ok := v[name]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(s.StringVal)
	if err != nil {
		return false, Invalid(name, `want "true" or "false", got %s`, Quote(s.StringVal))
	}
	return b, nil
}

// Has reports whether the param was given.
func (v Values) Has(name string) bool { _, ok := v[name]; return ok }

// Check validates params against a kind's declaration: no duplicates, no
// unknown names, every required param present, declared types, size limits.
// All problems are reported together, sorted, so one run shows them all.
func Check(decl []Param, given []v1beta1.Param) (Values, error) {
	byName := make(map[string]Param, len(decl))
	for _, p := range decl {
		byName[p.Name] = p
	}
	vals := make(Values, len(given))
	var problems []error
	for _, g := range given {
		p, known := byName[g.Name]
		switch {
		case !known:
			problems = append(problems, Invalid(g.Name, "unknown param; this kind accepts %s", names(decl)))
			continue
		case vals.Has(g.Name):
			problems = append(problems, Invalid(g.Name, "given more than once"))
			continue
		}
		if err := checkValue(p, g.Value); err != nil {
			problems = append(problems, err)
			continue
		}
		vals[g.Name] = g.Value
	}
	for _, p := range decl {
		if p.Required && !vals.Has(p.Name) && !mentioned(given, p.Name) {
			problems = append(problems, Invalid(p.Name, "required but not given"))
		}
	}
	if len(problems) > 0 {
		sort.Slice(problems, func(i, j int) bool { return problems[i].Error() < problems[j].Error() })
		return nil, errors.Join(problems...)
	}
	return vals, nil
}

func checkValue(p Param, v v1beta1.ParamValue) error {
	got := v.Type
	if got == "" {
		got = v1beta1.ParamTypeString
	}
	if got != p.typ() {
		return Invalid(p.Name, "must be of type %s, got %s", p.typ(), got)
	}
	if n := valueBytes(v); n > p.maxBytes() {
		return Invalid(p.Name, "value is %d bytes; the limit is %d", n, p.maxBytes())
	}
	return nil
}

func valueBytes(v v1beta1.ParamValue) int {
	n := len(v.StringVal)
	for _, s := range v.ArrayVal {
		n += len(s)
	}
	for k, s := range v.ObjectVal {
		n += len(k) + len(s)
	}
	return n
}

func mentioned(given []v1beta1.Param, name string) bool {
	for _, g := range given {
		if g.Name == name {
			return true
		}
	}
	return false
}

func names(decl []Param) string {
	if len(decl) == 0 {
		return "no params"
	}
	ns := make([]string, len(decl))
	for i, p := range decl {
		ns[i] = p.Name
	}
	sort.Strings(ns)
	return strings.Join(ns, ", ")
}
