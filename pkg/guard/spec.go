package guard

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Profile is the stage a namespace serves: it decides how much each
// persona may do (e.g. no pods/exec in prod).
type Profile string

const (
	Dev     Profile = "dev"
	Staging Profile = "staging"
	Prod    Profile = "prod"
)

// Profiles in order.
var Profiles = []Profile{Dev, Staging, Prod}

// Persona is a kind of person working in a model-serving namespace.
type Persona string

const (
	DataScientist Persona = "data-scientist"
	MLEngineer    Persona = "ml-engineer"
	Operator      Persona = "operator"
)

// Personas in order.
var Personas = []Persona{DataScientist, MLEngineer, Operator}

// Subjects are who a persona is bound to. Groups are the normal case;
// users are allowed for small teams.
type Subjects struct {
	Groups []string
	Users  []string
}

// Spec is everything a guard applies to one namespace.
type Spec struct {
	Namespace string
	// Profile is dev, staging or prod; empty means the profile a cluster
	// admin declared on the namespace (NamespaceProfileLabel).
	Profile  Profile
	Subjects map[Persona]Subjects
	// Ingress lists who may reach the namespace's pods besides themselves.
	Ingress []IngressSource
	// Egress lists destinations the pods may reach besides DNS and each
	// other, e.g. an object store holding model weights.
	Egress []EgressRule
	// Quota maps quota keys (see QuotaKeys) to quantities.
	Quota map[string]string
	// Limits maps LimitRange keys (see LimitKeys) to quantities.
	Limits map[string]string
	// PodSecurity is the Pod Security Admission level enforced.
	PodSecurity string
}

// IngressSource is one allowed origin of traffic.
type IngressSource struct {
	Kind      string // openshift-router, monitoring, knative, istio, namespace
	Namespace string // for Kind "namespace"
}

// The ingress source kinds.
const (
	FromOpenShiftRouter = "openshift-router"
	FromMonitoring      = "monitoring"
	FromKnative         = "knative"
	FromIstio           = "istio"
	FromNamespace       = "namespace"
)

// ParseIngress reads "openshift-router", "monitoring", "knative", "istio"
// or "namespace:<name>".
func ParseIngress(s string) (IngressSource, error) {
	switch s {
	case FromOpenShiftRouter, FromMonitoring, FromKnative, FromIstio:
		return IngressSource{Kind: s}, nil
	}
	if ns, ok := strings.CutPrefix(s, FromNamespace+":"); ok {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			// Not errs[0]: the upstream text is 200 bytes on its own.
			return IngressSource{}, fmt.Errorf("namespace:%s: not a namespace name (lower-case letters, digits and '-', at most 63)", quote(ns))
		}
		return IngressSource{Kind: FromNamespace, Namespace: ns}, nil
	}
	return IngressSource{}, fmt.Errorf("%s: want openshift-router, monitoring, knative, istio or namespace:<name>", quote(s))
}

// String is the source as ParseIngress reads it.
func (s IngressSource) String() string {
	if s.Kind == FromNamespace {
		return FromNamespace + ":" + s.Namespace
	}
	return s.Kind
}

// EgressRule allows traffic to a CIDR, on one TCP port or on all ports.
type EgressRule struct {
	CIDR string
	Port int // 0: all ports
	// Except are sensitive destinations inside CIDR that stay closed,
	// filled in by Limits.Apply (never by a run).
	Except []string
}

// ParseEgress reads "10.1.0.0/16" or "10.1.0.0/16:443".
func ParseEgress(s string) (EgressRule, error) {
	cidr, port := s, 0
	if i := strings.LastIndex(s, ":"); i > 0 && strings.Contains(s[:i], "/") {
		p, err := strconv.Atoi(s[i+1:])
		if err != nil || p < 1 || p > 65535 {
			return EgressRule{}, fmt.Errorf("%s: port must be 1-65535", quote(s))
		}
		cidr, port = s[:i], p
	}
	if _, err := parsePrefix(cidr); err != nil {
		return EgressRule{}, fmt.Errorf("%v (write CIDR or CIDR:port, e.g. 10.0.0.0/16:443)", err)
	}
	return EgressRule{CIDR: cidr, Port: port}, nil
}

// QuotaKeys maps the friendly quota keys to ResourceQuota resource names.
// GPUs are quota'd by requests only: extended resources cannot be
// overcommitted, so Kubernetes rejects a limits.nvidia.com/gpu quota.
var QuotaKeys = map[string][]string{
	"cpu":               {"requests.cpu", "limits.cpu"},
	"memory":            {"requests.memory", "limits.memory"},
	"gpu":               {"requests.nvidia.com/gpu"},
	"pods":              {"pods"},
	"storage":           {"requests.storage"},
	"ephemeral-storage": {"requests.ephemeral-storage"},
	"pvcs":              {"persistentvolumeclaims"},
	"services":          {"services"},
	"configmaps":        {"configmaps"},
	"secrets":           {"secrets"},
	"inferenceservices": {"count/inferenceservices.serving.kserve.io"},
}

// LimitKeys are the LimitRange settings: container defaults for CPU and
// memory, and only a maximum for GPUs (a GPU default would be injected
// into every pod, GPU or not).
var LimitKeys = []string{"default-cpu", "default-memory", "default-request-cpu", "default-request-memory", "max-gpu"}

// Defaults per profile; a Spec's Quota and Limits override key by key.
var (
	defaultQuota = map[Profile]map[string]string{
		Dev:     {"cpu": "8", "memory": "32Gi", "gpu": "1", "pods": "20", "pvcs": "10", "storage": "200Gi", "ephemeral-storage": "50Gi"},
		Staging: {"cpu": "16", "memory": "64Gi", "gpu": "2", "pods": "40", "pvcs": "10", "storage": "500Gi", "ephemeral-storage": "100Gi"},
		Prod:    {"cpu": "32", "memory": "128Gi", "gpu": "4", "pods": "80", "pvcs": "20", "storage": "1Ti", "ephemeral-storage": "200Gi"},
	}
	defaultLimits = map[string]string{
		"default-cpu": "1", "default-memory": "2Gi", "default-request-cpu": "250m", "default-request-memory": "512Mi", "max-gpu": "1",
	}
)

// PodSecurityLevels accepted; restricted is the default.
var PodSecurityLevels = []string{"restricted", "baseline", "privileged"}

// PodSecurityVersion pins the Pod Security standard version, so a cluster
// upgrade does not silently tighten or loosen the policy.
const PodSecurityVersion = "v1.36"

// FieldError names the part of a Spec that is wrong, so each door can say
// it in its own words (a param, a flag).
type FieldError struct {
	// Field is Namespace, Profile, PodSecurity, Quota, Limits, Groups,
	// Users or Subjects.
	Field string
	// Key is the quota or limit key, or the persona for Groups and Users.
	Key     string
	Problem string
}

func (e *FieldError) Error() string {
	if e.Key != "" {
		return e.Field + "[" + e.Key + "]: " + e.Problem
	}
	return e.Field + ": " + e.Problem
}

// Validate checks a Spec and fills in defaults. Errors are *FieldError,
// joined; callers translate them to their own param or flag names.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(field, key, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	if msgs := validation.IsDNS1123Label(s.Namespace); len(msgs) > 0 {
		bad("Namespace", "", "%s is not a namespace name: %s", quote(s.Namespace), msgs[0])
	}
	// An empty profile is the namespace's own (see Limits.Apply).
	if _, ok := defaultQuota[s.Profile]; !ok && s.Profile != "" {
		bad("Profile", "", "%s: want dev, staging or prod", quote(string(s.Profile)))
	}
	for _, p := range Personas {
		for _, g := range s.Subjects[p].Groups {
			if err := checkSubject(g); err != nil {
				bad("Groups", string(p), "%v", err)
			}
		}
		for _, u := range s.Subjects[p].Users {
			if err := checkSubject(u); err != nil {
				bad("Users", string(p), "%v", err)
			}
		}
	}
	for k := range s.Subjects {
		if !isPersona(k) {
			bad("Subjects", "", "unknown persona %s", quote(string(k)))
		}
	}
	for k, v := range s.Quota {
		if _, ok := QuotaKeys[k]; !ok {
			bad("Quota", k, "unknown key; want one of %s", strings.Join(sortedKeys(QuotaKeys), ", "))
		} else if q, err := resource.ParseQuantity(v); err != nil || q.Sign() < 0 {
			bad("Quota", k, "%s is not a non-negative quantity", quote(v))
		}
	}
	for k, v := range s.Limits {
		if !contains(LimitKeys, k) {
			bad("Limits", k, "unknown key; want one of %s", strings.Join(LimitKeys, ", "))
		} else if q, err := resource.ParseQuantity(v); err != nil || q.Sign() < 0 {
			bad("Limits", k, "%s is not a non-negative quantity", quote(v))
		}
	}
	if s.PodSecurity == "" {
		s.PodSecurity = "restricted"
	}
	if !contains(PodSecurityLevels, s.PodSecurity) {
		bad("PodSecurity", "", "%s: want restricted, baseline or privileged", quote(s.PodSecurity))
	}
	return errors.Join(errs...)
}

// checkSubject refuses empty names and the system: groups and users:
// binding system:authenticated (or a node, or a controller's identity) to
// a persona would hand that persona to everyone or to a machine.
func checkSubject(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("empty name")
	case strings.HasPrefix(name, "system:"):
		return fmt.Errorf("%s: system: groups and users cannot be given a persona", quote(name))
	case len(name) > 253:
		return fmt.Errorf("name is %d characters; the limit is 253", len(name))
	}
	return nil
}

// quota returns the effective quota: profile defaults overridden by Spec.
func (s *Spec) quota() map[string]string { return merge(defaultQuota[s.Profile], s.Quota) }

// limits returns the effective LimitRange settings.
func (s *Spec) limits() map[string]string { return merge(defaultLimits, s.Limits) }

func merge(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

func isPersona(p Persona) bool {
	for _, q := range Personas {
		if p == q {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// quote quotes user input for an error message, cut to 64 bytes so a huge
// value cannot become a huge message.
func quote(s string) string {
	if len(s) <= 64 {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:64]) + fmt.Sprintf("… (%d bytes)", len(s))
}
