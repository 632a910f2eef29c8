package guard

import (
	"net/netip"
	"testing"
)

// limitKeys are the annotations FuzzReadLimits writes to, by index.
var limitKeys = []string{AllowPodSecurityAnnotation, AllowEgressAnnotation, AllowIngressAnnotation, MaxQuotaAnnotation,
	AllowForeignAnnotation, AllowSecretsAnnotation, AllowServiceAccountsAnnotation, TrustedBundlesAnnotation, TrustedGitAnnotation,
	AllowSubjectsAnnotation(Operator), OptInUIDAnnotation, "modelguard.dev/x"}

// The admin's annotations are read by the guard and by CEL in the
// admission policies; whatever they hold, reading them must not panic,
// must say which key is wrong, and what it accepts must be what the
// checks rely on (canonical CIDRs, no IPv4-mapped IPv6).
func FuzzReadLimits(f *testing.F) {
	for i, v := range []string{"baseline", "10.0.0.0/8, ::ffff:1.2.3.4/128", "namespace:a,monitoring", "gpu=8,cpu=1e3",
		"RoleBinding/x", "a,b", "sa", "r@sha256:00", "u@0000000000000000000000000000000000000000", "group:a:b,user:c", "", "x"} {
		f.Add(uint8(i), v)
	}
	f.Fuzz(func(t *testing.T, k uint8, v string) {
		key := limitKeys[int(k)%len(limitKeys)]
		l, err := ReadLimits("b", nil, map[string]string{key: v})
		if err != nil {
			if len(err.Error()) > 1024 {
				t.Fatalf("error grows with the input: %d bytes", len(err.Error()))
			}
			return
		}
		for _, p := range l.Egress {
			if p.Masked() != p || p.Addr().Is4In6() {
				t.Fatalf("%q accepted non-canonical egress %s", v, p)
			}
		}
		for p, s := range l.Subjects {
			for _, name := range append(append([]string(nil), s.Groups...), s.Users...) {
				if checkSubject(name) != nil {
					t.Fatalf("%q accepted subject %q for %s", v, name, p)
				}
			}
		}
	})
}

// Whatever CIDR a run asks for and whatever the admin allows, the guard
// never writes a rule that reaches a sensitive destination the admin did
// not name: each one inside the rule is in its except list.
func FuzzLimitsEgress(f *testing.F) {
	for _, c := range [][2]string{{"0.0.0.0/0", "0.0.0.0/0"}, {"10.0.0.0/8", ""}, {"169.254.169.254/32", "169.254.0.0/16"},
		{"::/0", "::/0"}, {"fd00:ec2::/32", "fc00::/7"}, {"10.0.0.1/32:443", "10.0.0.0/8"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, rule, allow string) {
		r, err := ParseEgress(rule)
		if err != nil {
			return
		}
		ann := map[string]string{}
		if allow != "" {
			ann[AllowEgressAnnotation] = allow
		}
		l, err := ReadLimits("b", map[string]string{NamespaceProfileLabel: "dev"}, ann)
		if err != nil {
			return
		}
		s := Spec{Namespace: "b", PodSecurity: "restricted", Egress: []EgressRule{r}}
		if err := l.Apply(&s, sensitive()); err != nil {
			return
		}
		got := s.Egress[0]
		p := netip.MustParsePrefix(got.CIDR)
		if !anyWithin(l.Egress, p) {
			t.Fatalf("%s allowed outside %v", got.CIDR, l.Egress)
		}
		for _, sv := range sensitive() {
			if !p.Overlaps(sv.Prefix) || l.opens(sv.Prefix, p) {
				continue
			}
			carved := false
			for _, e := range got.Except {
				if within(netip.MustParsePrefix(e), sv.Prefix) {
					carved = true
				}
			}
			if !carved {
				t.Fatalf("%s (admin %q) reaches %s (%s): except %v", got.CIDR, allow, sv.Prefix, sv.What, got.Except)
			}
		}
	})
}
