package guard

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// What a guard may do to a namespace is decided by a cluster admin, never
// by the run: everything a CustomRun or a Task says is controlled by
// whoever may start runs in the pipeline namespace. The admin's word lives
// on the guarded namespace itself, as the labels and annotations below.
// Namespaces are cluster-scoped, so only cluster-level rights can change
// them, and the admission policy modelguard-namespace-labels keeps every
// modelguard.dev/ key for cluster admins even against identities that may
// patch the namespace (the controller, the Task's ServiceAccount).
const (
	// OptInLabel names the one namespace whose pipelines may guard this one.
	OptInLabel = "modelguard.dev/guarded-from"
	// OptInUIDAnnotation holds that namespace's UID, so a namespace created
	// later under the same name does not inherit the hand-over.
	OptInUIDAnnotation = "modelguard.dev/guarded-from-uid"
	// NamespaceProfileLabel says what the namespace serves (dev, staging,
	// prod). The admission policies select guarded namespaces by it, and a
	// run's profile must match it.
	NamespaceProfileLabel = ProfileLabel

	// AllowPodSecurityAnnotation is the lowest Pod Security level a run may
	// ask for; without it, restricted.
	AllowPodSecurityAnnotation = "modelguard.dev/allow-pod-security"
	// AllowEgressAnnotation lists the CIDRs a run's egress must lie in;
	// without it, the private address ranges (DefaultEgress).
	AllowEgressAnnotation = "modelguard.dev/allow-egress"
	// AllowIngressAnnotation lists the ingress sources a run may name;
	// without it, the four trusted label-selected sources and no
	// namespace:<name>.
	AllowIngressAnnotation = "modelguard.dev/allow-ingress"
	// MaxQuotaAnnotation caps quota overrides (key=value); a key without a
	// cap may not exceed the profile's default.
	MaxQuotaAnnotation = "modelguard.dev/max-quota"
	// AllowForeignAnnotation lists NetworkPolicies and RoleBindings
	// (Kind/name) that are not the guard's but are expected in the
	// namespace; any other is drift.
	AllowForeignAnnotation = "modelguard.dev/allow-foreign"

	// Read by the admission policies (see AdmissionPolicies); checked here
	// too, so a typo fails the guard instead of silently allowing nothing.
	AllowSecretsAnnotation         = "modelguard.dev/allow-secrets"
	AllowServiceAccountsAnnotation = "modelguard.dev/allow-service-accounts"
	TrustedBundlesAnnotation       = "modelguard.dev/trusted-bundles"
	TrustedGitAnnotation           = "modelguard.dev/trusted-git"
)

// AllowSubjectsAnnotation lists the groups and users (group:<name>,
// user:<name>) a run may give persona p; without it, none.
func AllowSubjectsAnnotation(p Persona) string { return "modelguard.dev/allow-" + string(p) }

// DefaultEgress is where a run may open egress when the admin has not
// said: private address space, where an object store with the weights
// lives. The internet (0.0.0.0/0, ::/0) is not in it, nor link-local.
var DefaultEgress = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
}

// DefaultIngress are the sources a run may name when the admin has not
// said: each selects namespaces by a label only cluster admins may set
// (modelguard-namespace-labels) or by the name the API server sets.
var DefaultIngress = []IngressSource{{Kind: FromOpenShiftRouter}, {Kind: FromMonitoring}, {Kind: FromKnative}, {Kind: FromIstio}}

// Limits are a cluster admin's bounds on what guards may do to one
// namespace, read from its labels and annotations.
type Limits struct {
	Namespace string
	// Profile is the namespace's declared profile; "" if not declared.
	Profile Profile
	// From and FromUID are the opt-in: the namespace (and its UID) whose
	// pipelines may guard this one.
	From, FromUID     string
	LowestPodSecurity string
	Egress            []netip.Prefix
	// EgressSet: Egress came from the admin, not DefaultEgress. Only an
	// admin's entry can open a sensitive destination.
	EgressSet bool
	Ingress   []IngressSource
	Subjects  map[Persona]Subjects
	MaxQuota  map[string]resource.Quantity
	Foreign   map[string]bool
}

var (
	digestRef = regexp.MustCompile(`^[^\s,@]+@sha256:[0-9a-f]{64}$`)
	gitRef    = regexp.MustCompile(`^[^\s,@]+@[0-9a-f]{40}$`)
)

// ReadLimits reads the admin's limits from a namespace's labels and
// annotations. An unknown modelguard.dev/ key or a malformed value is an
// error naming it: a typo must not quietly fall back to a default.
func ReadLimits(ns string, labels, annotations map[string]string) (*Limits, error) {
	l := &Limits{Namespace: ns, LowestPodSecurity: "restricted", Egress: DefaultEgress, Ingress: DefaultIngress,
		Subjects: map[Persona]Subjects{}, MaxQuota: map[string]resource.Quantity{}, Foreign: map[string]bool{}}
	var errs []error
	bad := func(kind, key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s %s on namespace %q: %s", kind, key, ns, fmt.Sprintf(format, args...)))
	}
	for _, k := range sortedKeys(labels) {
		v := labels[k]
		switch k {
		case OptInLabel:
			l.From = v
		case NamespaceProfileLabel:
			l.Profile = Profile(v)
			if _, ok := defaultQuota[l.Profile]; !ok {
				bad("label", k, "%s: want dev, staging or prod", quote(v))
			}
		default:
			if strings.HasPrefix(k, "modelguard.dev/") {
				bad("label", k, "unknown modelguard.dev/ label")
			}
		}
	}
	for _, k := range sortedKeys(annotations) {
		if err := l.readAnnotation(k, annotations[k]); err != nil {
			bad("annotation", k, "%v", err)
		}
	}
	return l, errors.Join(errs...)
}

func (l *Limits) readAnnotation(key, value string) error {
	items := list(value)
	switch key {
	case OptInUIDAnnotation:
		l.FromUID = strings.TrimSpace(value)
	case AllowPodSecurityAnnotation:
		if !contains(PodSecurityLevels, value) {
			return fmt.Errorf("%s: want restricted, baseline or privileged", quote(value))
		}
		l.LowestPodSecurity = value
	case AllowEgressAnnotation:
		l.Egress, l.EgressSet = nil, true
		for _, it := range items {
			p, err := parsePrefix(it)
			if err != nil {
				return err
			}
			l.Egress = append(l.Egress, p)
		}
	case AllowIngressAnnotation:
		l.Ingress = nil
		for _, it := range items {
			src, err := ParseIngress(it)
			if err != nil {
				return err
			}
			l.Ingress = append(l.Ingress, src)
		}
	case MaxQuotaAnnotation:
		return l.readMaxQuota(items)
	case AllowForeignAnnotation:
		for _, it := range items {
			kind, name, _ := strings.Cut(it, "/")
			if (kind != "NetworkPolicy" && kind != "RoleBinding") || len(validation.IsDNS1123Subdomain(name)) > 0 {
				return fmt.Errorf("%s: want NetworkPolicy/<name> or RoleBinding/<name>", quote(it))
			}
			l.Foreign[it] = true
		}
	case AllowSecretsAnnotation, AllowServiceAccountsAnnotation:
		for _, it := range items {
			if msgs := validation.IsDNS1123Subdomain(it); len(msgs) > 0 {
				return fmt.Errorf("%s: %s", quote(it), msgs[0])
			}
		}
	case TrustedBundlesAnnotation, TrustedGitAnnotation:
		re, want := digestRef, "<image>@sha256:<64 hex digits>"
		if key == TrustedGitAnnotation {
			re, want = gitRef, "<repository URL>@<40-hex commit>"
		}
		for _, it := range items {
			if !re.MatchString(it) {
				return fmt.Errorf("%s: want %s", quote(it), want)
			}
		}
	default:
		for _, p := range Personas {
			if key == AllowSubjectsAnnotation(p) {
				return l.readSubjects(p, items)
			}
		}
		if strings.HasPrefix(key, "modelguard.dev/") {
			return errors.New("unknown modelguard.dev/ annotation")
		}
	}
	return nil
}

func (l *Limits) readSubjects(p Persona, items []string) error {
	var s Subjects
	for _, it := range items {
		kind, name, _ := strings.Cut(it, ":")
		if err := checkSubject(name); err != nil {
			return err
		}
		switch kind {
		case "group":
			s.Groups = append(s.Groups, name)
		case "user":
			s.Users = append(s.Users, name)
		default:
			return fmt.Errorf("%s: want group:<name> or user:<name>", quote(it))
		}
	}
	l.Subjects[p] = s
	return nil
}

func (l *Limits) readMaxQuota(items []string) error {
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if _, known := QuotaKeys[k]; !ok || !known {
			return fmt.Errorf("%s: want <key>=<quantity>, key one of %s", quote(it), strings.Join(sortedKeys(QuotaKeys), ", "))
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() < 0 {
			return fmt.Errorf("%s: %s is not a non-negative quantity", quote(it), quote(v))
		}
		l.MaxQuota[k] = q
	}
	return nil
}

// list splits a comma-separated annotation value, dropping blanks, the
// way the admission policies read the same annotations.
func list(v string) []string {
	var out []string
	for _, it := range strings.Split(v, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// parsePrefix reads a canonical CIDR. Host bits and IPv4-mapped IPv6
// (::ffff:a.b.c.d) are refused: the first hides what is meant, the second
// would reach IPv4 addresses past every IPv4 check.
func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: not a CIDR like 10.0.0.0/16", quote(s))
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%s: IPv4-mapped IPv6 is refused; write the IPv4 CIDR", quote(s))
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%s: has host bits set; did you mean %s?", quote(s), p.Masked())
	}
	return p, nil
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "none"
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	sort.Strings(out)
	if len(out) > 6 {
		out = append(out[:6], fmt.Sprintf("… (%d more)", len(ps)-6))
	}
	return strings.Join(out, ", ")
}
