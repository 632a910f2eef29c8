package guard

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Sensitive is a destination egress never reaches by accident: a wider
// CIDR a run asks for has it carved out (NetworkPolicy ipBlock.except),
// and a CIDR inside it opens only within an entry a cluster admin named
// in AllowEgressAnnotation.
type Sensitive struct {
	Prefix netip.Prefix
	What   string
}

// SensitiveEgress are the fixed sensitive destinations; the API server's
// addresses are added per cluster (APIServerEgress).
var SensitiveEgress = []Sensitive{
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local, where clouds serve instance metadata and credentials (169.254.169.254)"},
	{netip.MustParsePrefix("fe80::/10"), "IPv6 link-local"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the AWS IPv6 instance metadata address"},
	{netip.MustParsePrefix("100.100.100.200/32"), "the Alibaba Cloud instance metadata address"},
	{netip.MustParsePrefix("168.63.129.16/32"), "Azure's host endpoint (WireServer)"},
}

// APIServerEgress makes the API server's addresses sensitive: a pod that
// reaches it can use any token it holds.
func APIServerEgress(addrs []netip.Addr) []Sensitive {
	var out []Sensitive
	for _, a := range addrs {
		a = a.Unmap()
		out = append(out, Sensitive{netip.PrefixFrom(a, a.BitLen()), "the API server"})
	}
	return out
}

// LimitError is a run asking for more than a cluster admin allows. Each
// field names the Spec field (the doors say param or flag) and the limit.
type LimitError struct {
	Fields []*FieldError
}

func (e *LimitError) Error() string {
	msgs := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		msgs[i] = f.Error()
	}
	return strings.Join(msgs, "; ")
}

// Apply checks a validated Spec against the limits and completes it: the
// profile comes from the namespace when the run gave none, and sensitive
// destinations are carved out of its egress. It returns a *LimitError
// naming everything the run may not do.
func (l *Limits) Apply(s *Spec, sensitive []Sensitive) error {
	var errs []*FieldError
	bad := func(field, key, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	ns := quote(l.Namespace)
	switch {
	case s.Profile == "":
		s.Profile = l.Profile
	case s.Profile != l.Profile:
		bad("Profile", "", "%s, but a cluster admin declared namespace %s %s (label %s)", quote(string(s.Profile)), ns, l.Profile, NamespaceProfileLabel)
	}
	if rank(s.PodSecurity) < rank(l.LowestPodSecurity) {
		bad("PodSecurity", "", "%s is below %s, the lowest level a cluster admin allows in namespace %s (annotation %s)",
			quote(s.PodSecurity), l.LowestPodSecurity, ns, AllowPodSecurityAnnotation)
	}
	for _, src := range s.Ingress {
		if !containsSource(l.Ingress, src) {
			bad("Ingress", "", "%s is not a source a cluster admin allows in namespace %s (annotation %s: %s)",
				quote(src.String()), ns, AllowIngressAnnotation, sourceList(l.Ingress))
		}
	}
	for _, p := range Personas {
		allowed := l.Subjects[p]
		for _, g := range s.Subjects[p].Groups {
			if !contains(allowed.Groups, g) {
				bad("Groups", string(p), "%s is not among the %s groups a cluster admin allows in namespace %s (annotation %s: %s)", quote(g), p, ns, AllowSubjectsAnnotation(p), orNone(allowed.Groups))
			}
		}
		for _, u := range s.Subjects[p].Users {
			if !contains(allowed.Users, u) {
				bad("Users", string(p), "%s is not among the %s users a cluster admin allows in namespace %s (annotation %s: %s)", quote(u), p, ns, AllowSubjectsAnnotation(p), orNone(allowed.Users))
			}
		}
	}
	for _, k := range sortedKeys(s.Quota) {
		capq, from := l.quotaCap(k)
		if q, err := resource.ParseQuantity(s.Quota[k]); err == nil && from != "" && q.Cmp(capq) > 0 {
			bad("Quota", k, "%s is above %s, %s in namespace %s", quote(s.Quota[k]), capq.String(), from, ns)
		}
	}
	for i := range s.Egress {
		if err := l.egress(&s.Egress[i], sensitive); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &LimitError{Fields: errs}
	}
	return nil
}

// quotaCap is the most a run may set a quota key to, and where that cap
// comes from; "" means no cap (a key the profile leaves open: setting it
// only tightens).
func (l *Limits) quotaCap(key string) (resource.Quantity, string) {
	if q, ok := l.MaxQuota[key]; ok {
		return q, "the cap a cluster admin set (annotation " + MaxQuotaAnnotation + ")"
	}
	if v, ok := defaultQuota[l.Profile][key]; ok {
		return resource.MustParse(v), "the " + string(l.Profile) + " default, which only a cluster admin may raise (annotation " + MaxQuotaAnnotation + ")"
	}
	return resource.Quantity{}, ""
}

// egress checks one rule and carves the sensitive destinations out of it.
func (l *Limits) egress(r *EgressRule, sensitive []Sensitive) *FieldError {
	bad := func(format string, args ...any) *FieldError {
		return &FieldError{Field: "Egress", Problem: fmt.Sprintf(format, args...)}
	}
	p, err := parsePrefix(r.CIDR)
	if err != nil {
		return bad("%v", err)
	}
	if !anyWithin(l.Egress, p) {
		def := ""
		if !l.EgressSet {
			def = ", the default"
		}
		return bad("%s is outside the egress a cluster admin allows in namespace %s (%s%s; annotation %s)",
			quote(r.CIDR), quote(l.Namespace), prefixList(l.Egress), def, AllowEgressAnnotation)
	}
	var except []netip.Prefix
	for _, s := range sensitive {
		switch {
		case within(s.Prefix, p):
			if !l.opens(s.Prefix, p) {
				return bad("%s is %s; a guard opens it only inside an entry a cluster admin names in annotation %s", quote(r.CIDR), s.What, AllowEgressAnnotation)
			}
		case within(p, s.Prefix):
			except = append(except, s.Prefix)
		}
	}
	r.Except = exceptList(except)
	return nil
}

// opens reports whether the admin named, inside sensitive range s, an
// entry that holds p. A wide entry (0.0.0.0/0) does not count: reaching a
// metadata service or the API server must be asked for by name.
func (l *Limits) opens(s, p netip.Prefix) bool {
	if !l.EgressSet {
		return false
	}
	for _, e := range l.Egress {
		if within(s, e) && within(e, p) {
			return true
		}
	}
	return false
}

// within reports whether inner lies inside outer (same family).
func within(outer, inner netip.Prefix) bool {
	return outer.Addr().Is4() == inner.Addr().Is4() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

func anyWithin(outers []netip.Prefix, p netip.Prefix) bool {
	for _, o := range outers {
		if within(o, p) {
			return true
		}
	}
	return false
}

// exceptList drops entries inside another entry and sorts the rest, so the
// same cluster always gives the same policy.
func exceptList(ps []netip.Prefix) []string {
	var out []string
	for i, p := range ps {
		inside := false
		for j, q := range ps {
			if i != j && within(q, p) && (q != p || j < i) {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, p.String())
		}
	}
	sort.Strings(out)
	return out
}

func rank(level string) int {
	switch level {
	case "restricted":
		return 2
	case "baseline":
		return 1
	}
	return 0
}

func containsSource(srcs []IngressSource, s IngressSource) bool {
	for _, x := range srcs {
		if x == s {
			return true
		}
	}
	return false
}

func sourceList(srcs []IngressSource) string {
	out := make([]string, len(srcs))
	for i, s := range srcs {
		out[i] = s.String()
	}
	return orNone(out)
}

// orNone lists allowed values for a message, at most a few of them, so a
// long allow-list cannot make a long message.
func orNone(xs []string) string {
	if len(xs) == 0 {
		return "none set"
	}
	const show = 6
	var q []string
	for i, x := range xs {
		if i == show {
			q = append(q, fmt.Sprintf("… (%d more)", len(xs)-show))
			break
		}
		q = append(q, quote(x))
	}
	return strings.Join(q, ", ")
}
