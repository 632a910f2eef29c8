package guard

import (
	"net/netip"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestReadLimitsDefaults(t *testing.T) {
	l, err := ReadLimits("b", map[string]string{NamespaceProfileLabel: "prod", OptInLabel: "a"}, map[string]string{OptInUIDAnnotation: "uid-a"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Profile != Prod || l.From != "a" || l.FromUID != "uid-a" || l.LowestPodSecurity != "restricted" || l.EgressSet ||
		prefixList(l.Egress) != "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7" || len(l.Ingress) != 4 || len(l.Subjects) != 0 {
		t.Fatalf("defaults: %+v", l)
	}
}

func TestReadLimits(t *testing.T) {
	l, err := ReadLimits("b", nil, map[string]string{
		AllowPodSecurityAnnotation:        "baseline",
		AllowEgressAnnotation:             "10.20.0.0/16, 169.254.169.254/32",
		AllowIngressAnnotation:            "monitoring,namespace:gateway",
		AllowSubjectsAnnotation(Operator): "group:platform:ops, user:carol",
		MaxQuotaAnnotation:                "gpu=8",
		AllowForeignAnnotation:            "RoleBinding/modelguard-namespace-guard-task",
		AllowSecretsAnnotation:            "model-store",
		AllowServiceAccountsAnnotation:    "pipeline",
		TrustedBundlesAnnotation:          "registry.example.com/p@sha256:" + strings.Repeat("a", 64),
		TrustedGitAnnotation:              "https://git.example.com/org/repo@" + strings.Repeat("0", 40),
		"example.com/unrelated":           "anything",
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.LowestPodSecurity != "baseline" || !l.EgressSet || len(l.Egress) != 2 || len(l.Ingress) != 2 || l.Ingress[1].Namespace != "gateway" ||
		l.Subjects[Operator].Groups[0] != "platform:ops" || l.Subjects[Operator].Users[0] != "carol" || !maxQuota(l, "gpu", "8") ||
		!l.Foreign["RoleBinding/modelguard-namespace-guard-task"] {
		t.Fatalf("limits: %+v", l)
	}
}

// A typo or a malformed value fails, naming the key, rather than falling
// back to a default the admin did not mean.
func TestReadLimitsRefusesWhatItCannotRead(t *testing.T) {
	for key, value := range map[string]string{
		AllowPodSecurityAnnotation:          "lax",
		AllowEgressAnnotation:               "10.1.2.3/8",
		AllowIngressAnnotation:              "everywhere",
		AllowSubjectsAnnotation(Operator):   "carol",
		AllowSubjectsAnnotation(MLEngineer): "group:system:authenticated",
		MaxQuotaAnnotation:                  "tpu=1",
		AllowForeignAnnotation:              "Secret/x",
		AllowSecretsAnnotation:              "Not_A_Name",
		TrustedBundlesAnnotation:            "registry.example.com/p:latest",
		TrustedGitAnnotation:                "https://git.example.com/org/repo@main",
		"modelguard.dev/allow-egres":        "10.0.0.0/8",
	} {
		_, err := ReadLimits("b", nil, map[string]string{key: value})
		if err == nil || !strings.Contains(err.Error(), "annotation "+key+` on namespace "b"`) {
			t.Errorf("%s=%q: err = %v; want an error naming the annotation", key, value, err)
		}
	}
	for key, value := range map[string]string{NamespaceProfileLabel: "qa", "modelguard.dev/guarded": "true"} {
		if _, err := ReadLimits("b", map[string]string{key: value}, nil); err == nil || !strings.Contains(err.Error(), "label "+key) {
			t.Errorf("label %s=%q: err = %v", key, value, err)
		}
	}
}

// limits for b, a dev namespace, with the given annotations.
func limits(t *testing.T, ann map[string]string) *Limits {
	t.Helper()
	l, err := ReadLimits("b", map[string]string{NamespaceProfileLabel: "dev"}, ann)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var apiServer = APIServerEgress([]netip.Addr{netip.MustParseAddr("10.0.0.1")})

func sensitive() []Sensitive {
	return append(append([]Sensitive(nil), SensitiveEgress...), apiServer...)
}

// Every attack of a run on its limits is refused, naming the field and
// the limit.
func TestLimitsApplyRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		spec Spec
		ann  map[string]string
		want string
	}{
		"privileged":         {Spec{PodSecurity: "privileged"}, nil, `PodSecurity: "privileged" is below restricted, the lowest level a cluster admin allows in namespace "b" (annotation modelguard.dev/allow-pod-security)`},
		"baseline-allowed":   {Spec{PodSecurity: "privileged"}, map[string]string{AllowPodSecurityAnnotation: "baseline"}, `"privileged" is below baseline`},
		"everything":         {Spec{Egress: []EgressRule{{CIDR: "0.0.0.0/0"}}}, nil, `Egress: "0.0.0.0/0" is outside the egress a cluster admin allows in namespace "b" (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7, the default; annotation modelguard.dev/allow-egress)`},
		"everything-v6":      {Spec{Egress: []EgressRule{{CIDR: "::/0"}}}, nil, `"::/0" is outside the egress`},
		"metadata":           {Spec{Egress: []EgressRule{{CIDR: "169.254.169.254/32"}}}, map[string]string{AllowEgressAnnotation: "0.0.0.0/0"}, `"169.254.169.254/32" is link-local, where clouds serve instance metadata`},
		"aws-v6-metadata":    {Spec{Egress: []EgressRule{{CIDR: "fd00:ec2::254/128"}}}, nil, `is the AWS IPv6 instance metadata address`},
		"api-server":         {Spec{Egress: []EgressRule{{CIDR: "10.0.0.1/32", Port: 443}}}, nil, `"10.0.0.1/32" is the API server`},
		"namespace":          {Spec{Ingress: []IngressSource{{Kind: FromNamespace, Namespace: "mine"}}}, nil, `Ingress: "namespace:mine" is not a source a cluster admin allows in namespace "b" (annotation modelguard.dev/allow-ingress: "openshift-router", "monitoring", "knative", "istio")`},
		"router-not-allowed": {Spec{Ingress: []IngressSource{{Kind: FromOpenShiftRouter}}}, map[string]string{AllowIngressAnnotation: "monitoring"}, `"openshift-router" is not a source`},
		"self-operator":      {Spec{Subjects: map[Persona]Subjects{Operator: {Users: []string{"dave"}}}}, nil, `Users[operator]: "dave" is not among the operator users a cluster admin allows in namespace "b" (annotation modelguard.dev/allow-operator: none set)`},
		"other-group":        {Spec{Subjects: map[Persona]Subjects{MLEngineer: {Groups: []string{"all-devs"}}}}, map[string]string{AllowSubjectsAnnotation(MLEngineer): "group:ml"}, `Groups[ml-engineer]: "all-devs" is not among the ml-engineer groups a cluster admin allows in namespace "b" (annotation modelguard.dev/allow-ml-engineer: "ml")`},
		"group-as-user":      {Spec{Subjects: map[Persona]Subjects{MLEngineer: {Users: []string{"ml"}}}}, map[string]string{AllowSubjectsAnnotation(MLEngineer): "group:ml"}, `Users[ml-engineer]: "ml"`},
		"profile":            {Spec{Profile: Prod}, nil, `Profile: "prod", but a cluster admin declared namespace "b" dev (label modelguard.dev/profile)`},
		"quota":              {Spec{Quota: map[string]string{"gpu": "64"}}, nil, `Quota[gpu]: "64" is above 1, the dev default, which only a cluster admin may raise (annotation modelguard.dev/max-quota) in namespace "b"`},
		"quota-cap":          {Spec{Quota: map[string]string{"gpu": "64"}}, map[string]string{MaxQuotaAnnotation: "gpu=8"}, `"64" is above 8, the cap a cluster admin set`},
	} {
		t.Run(name, func(t *testing.T) {
			s := c.spec
			s.Namespace = "b"
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			err := limits(t, c.ann).Apply(&s, sensitive())
			if _, ok := err.(*LimitError); !ok || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want a *LimitError containing\n%s", err, c.want)
			}
		})
	}
}

func TestLimitsApplyAllowsAndCarves(t *testing.T) {
	s := Spec{Namespace: "b", PodSecurity: "baseline",
		Subjects: map[Persona]Subjects{Operator: {Groups: []string{"ops"}, Users: []string{"carol"}}},
		Ingress:  []IngressSource{{Kind: FromMonitoring}, {Kind: FromNamespace, Namespace: "gateway"}},
		Egress:   []EgressRule{{CIDR: "10.0.0.0/8", Port: 443}, {CIDR: "0.0.0.0/0"}, {CIDR: "169.254.169.254/32", Port: 80}, {CIDR: "192.0.2.0/24"}},
		Quota:    map[string]string{"gpu": "1", "inferenceservices": "100", "cpu": "4"},
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	l := limits(t, map[string]string{
		AllowPodSecurityAnnotation:        "baseline",
		AllowIngressAnnotation:            "monitoring,namespace:gateway",
		AllowSubjectsAnnotation(Operator): "group:ops,user:carol",
		AllowEgressAnnotation:             "0.0.0.0/0,169.254.169.254/32",
	})
	if err := l.Apply(&s, sensitive()); err != nil {
		t.Fatal(err)
	}
	if s.Profile != Dev {
		t.Errorf("profile = %q; want the namespace's", s.Profile)
	}
	want := map[string]string{
		"10.0.0.0/8":         "10.0.0.1/32",
		"0.0.0.0/0":          "10.0.0.1/32,100.100.100.200/32,127.0.0.0/8,168.63.129.16/32,169.254.0.0/16",
		"169.254.169.254/32": "", // named by the admin, inside link-local
		"192.0.2.0/24":       "",
	}
	for _, r := range s.Egress {
		if got := strings.Join(r.Except, ","); got != want[r.CIDR] {
			t.Errorf("%s except %q; want %q", r.CIDR, got, want[r.CIDR])
		}
	}
}

func TestOwns(t *testing.T) {
	s := Spec{Namespace: "b", Profile: Prod, PodSecurity: "restricted",
		Subjects: map[Persona]Subjects{DataScientist: {Groups: []string{"d"}}, MLEngineer: {Groups: []string{"m"}}, Operator: {Groups: []string{"o"}}},
		Ingress:  []IngressSource{{Kind: FromOpenShiftRouter}, {Kind: FromMonitoring}, {Kind: FromKnative}, {Kind: FromIstio}, {Kind: FromNamespace, Namespace: "gw"}},
		Egress:   []EgressRule{{CIDR: "10.0.0.0/8"}},
	}
	objs, err := Build(&s)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs[1:] {
		if !Owns(o.GVR.Resource, o.Obj.GetName()) {
			t.Errorf("the guard builds %s but does not own the name", o.Ref())
		}
	}
	for _, c := range [][2]string{{"networkpolicies", "admin-allow-all"}, {"networkpolicies", "modelguard-allow-everything"},
		{"rolebindings", "modelguard-admin"}, {"networkpolicies", "modelguard-quota"}, {"networkpolicies", "modelguard-allow-from-ns-Bad_Name"}} {
		if Owns(c[0], c[1]) {
			t.Errorf("Owns(%s, %s) = true", c[0], c[1])
		}
	}
}

// The controller may patch namespaces; what it patches must never touch
// the modelguard.dev/ keys or the labels other namespaces' policies trust.
func TestNamespacePatchCarriesOnlyPodSecurityLabels(t *testing.T) {
	s := Spec{Namespace: "b", Profile: Dev, PodSecurity: "baseline"}
	objs, err := Build(&s)
	if err != nil {
		t.Fatal(err)
	}
	ns := objs[0].Obj
	if ns.GetKind() != "Namespace" || len(ns.GetAnnotations()) != 0 {
		t.Fatalf("namespace object: %v", ns.Object)
	}
	for k := range ns.GetLabels() {
		if !strings.HasPrefix(k, "pod-security.kubernetes.io/") {
			t.Errorf("the guard would set namespace label %s", k)
		}
	}
}

func maxQuota(l *Limits, key, want string) bool {
	q, ok := l.MaxQuota[key]
	return ok && q.Cmp(resource.MustParse(want)) == 0
}
