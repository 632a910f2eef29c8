package guard

import (
	"strings"
	"testing"
)

func TestParseIngress(t *testing.T) {
	for in, want := range map[string]IngressSource{
		"openshift-router":   {Kind: FromOpenShiftRouter},
		"monitoring":         {Kind: FromMonitoring},
		"knative":            {Kind: FromKnative},
		"istio":              {Kind: FromIstio},
		"namespace:frontend": {Kind: FromNamespace, Namespace: "frontend"},
	} {
		got, err := ParseIngress(in)
		if err != nil || got != want {
			t.Errorf("ParseIngress(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "everywhere", "namespace:", "namespace:Bad_Name", "namespace:" + strings.Repeat("a", 64)} {
		if _, err := ParseIngress(bad); err == nil {
			t.Errorf("ParseIngress(%q) accepted", bad)
		}
	}
}

func TestParseEgress(t *testing.T) {
	for in, want := range map[string]EgressRule{
		"10.0.0.0/8":         {CIDR: "10.0.0.0/8"},
		"10.0.0.0/8:443":     {CIDR: "10.0.0.0/8", Port: 443},
		"2001:db8::/32":      {CIDR: "2001:db8::/32"},
		"2001:db8::/32:9000": {CIDR: "2001:db8::/32", Port: 9000},
	} {
		got, err := ParseEgress(in)
		if err != nil || got.CIDR != want.CIDR || got.Port != want.Port || got.Except != nil {
			t.Errorf("ParseEgress(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	// Host bits hide what is meant; IPv4-mapped IPv6 would reach IPv4
	// addresses past every IPv4 check (link-local, the API server).
	for _, bad := range []string{"", "10.0.0.0", "10.0.0.0/8:0", "10.0.0.0/8:70000", "10.0.0.0/8:https", "example.com:443",
		"10.1.2.3/8", "::ffff:169.254.169.254/128", "::ffff:0.0.0.0/96:80"} {
		if _, err := ParseEgress(bad); err == nil {
			t.Errorf("ParseEgress(%q) accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	good := Spec{Namespace: "ns", Subjects: map[Persona]Subjects{Operator: {Groups: []string{"ops"}}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid spec refused: %v", err)
	}
	// An empty profile stays empty: it means the namespace's own, which
	// only Limits.Apply knows.
	if good.Profile != "" || good.PodSecurity != "restricted" {
		t.Fatalf("defaults not filled: %+v", good)
	}
	bad := Spec{
		Namespace:   "Not A Namespace",
		Profile:     "qa",
		Subjects:    map[Persona]Subjects{DataScientist: {Groups: []string{"system:authenticated"}}, Operator: {Users: []string{""}}, "admin": {}},
		Quota:       map[string]string{"gpu": "-1", "tpu": "1"},
		Limits:      map[string]string{"max-gpu": "lots"},
		PodSecurity: "lax",
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid spec accepted")
	}
	for _, want := range []string{
		`Namespace: "Not A Namespace" is not a namespace name`,
		`Profile: "qa": want dev, staging or prod`,
		`Groups[data-scientist]: "system:authenticated": system: groups and users cannot be given a persona`,
		`Users[operator]: empty name`,
		`Subjects: unknown persona "admin"`,
		`Quota[gpu]: "-1" is not a non-negative quantity`,
		`Quota[tpu]: unknown key`,
		`Limits[max-gpu]: "lots" is not a non-negative quantity`,
		`PodSecurity: "lax"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// The GPU quota is requests-only: Kubernetes rejects limits.nvidia.com/gpu.
func TestQuotaAndLimitsGiveNoGPUByDefault(t *testing.T) {
	s := Spec{Namespace: "ns", Quota: map[string]string{"gpu": "3"}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	q := resourceQuota(&s)
	if got := q.Spec.Hard["requests.nvidia.com/gpu"]; got.String() != "3" {
		t.Fatalf("requests.nvidia.com/gpu = %v", got.String())
	}
	if _, ok := q.Spec.Hard["limits.nvidia.com/gpu"]; ok {
		t.Fatal("quota sets limits.nvidia.com/gpu, which Kubernetes rejects")
	}
	// The API server sets a LimitRange's missing default to its max, so
	// "no GPU default" must be written as an explicit zero, or every
	// container would be given a GPU (found by a real pod that stayed
	// Pending on a node without GPUs).
	l := limitRange(&s).Spec.Limits[0]
	if d, r := l.Default["nvidia.com/gpu"], l.DefaultRequest["nvidia.com/gpu"]; d.String() != "0" || r.String() != "0" {
		t.Fatalf("LimitRange GPU default %q, default request %q; want explicit 0 (else the API server defaults it to max)", d.String(), r.String())
	}
	if m := l.Max["nvidia.com/gpu"]; m.IsZero() {
		t.Fatal("LimitRange has no GPU cap")
	}
}

// No persona role may hold a wildcard or any verb that changes access.
func TestPersonaRulesHaveNoWildcardsOrEscalation(t *testing.T) {
	for _, r := range PersonaClusterRoles() {
		for _, rule := range r.Rules {
			for _, list := range [][]string{rule.Verbs, rule.APIGroups, rule.Resources} {
				for _, x := range list {
					if x == "*" {
						t.Errorf("%s: wildcard in %+v", r.Name, rule)
					}
				}
			}
			for _, v := range rule.Verbs {
				if v == "bind" || v == "escalate" || v == "impersonate" {
					t.Errorf("%s: verb %s", r.Name, v)
				}
			}
			for _, res := range rule.Resources {
				writes := len(rule.Verbs) > 0 && rule.Verbs[0] != "get"
				if writes && (res == "roles" || res == "rolebindings" || res == "networkpolicies" || res == "resourcequotas" || res == "limitranges") {
					t.Errorf("%s: may write %s", r.Name, res)
				}
			}
		}
	}
}

func FuzzParseIngress(f *testing.F) {
	for _, s := range []string{"openshift-router", "namespace:a", "namespace:", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		src, err := ParseIngress(s)
		if err == nil && src.Kind == "" {
			t.Fatalf("%q accepted with no kind", s)
		}
		if err != nil && len(err.Error()) > 400 {
			t.Fatalf("error message grows with input: %d bytes", len(err.Error()))
		}
	})
}

func FuzzParseEgress(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.0/8:443", "::/0:1", "a/b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEgress(s)
		if err == nil && (e.CIDR == "" || e.Port < 0 || e.Port > 65535) {
			t.Fatalf("%q accepted as %+v", s, e)
		}
		if err != nil && len(err.Error()) > 400 {
			t.Fatalf("error message grows with input: %d bytes", len(err.Error()))
		}
	})
}
