package gate

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
)

// RuntimePolicy is what a watched workload must satisfy.
type RuntimePolicy struct {
	// Severity: an alert at or above it fails (default HIGH).
	Severity acs.PolicySeverity
	// IncludeDeploy counts DEPLOY-stage alerts as well as RUNTIME ones.
	IncludeDeploy bool
	// DenyPolicies and DenyCategories fail on any alert of these policies
	// or categories, whatever its severity (case-insensitive names).
	DenyPolicies, DenyCategories []string
	// Allow, when set, is the pipeline's list of executables each
	// container may run; any other process fails the watch.
	Allow *ProcessAllowList
	// AcceptInconclusive lists inconclusive reasons that do not fail the
	// run (the verdict stays "inconclusive").
	AcceptInconclusive []string
}

var policySeverities = []acs.PolicySeverity{acs.PolicySeverityLow, acs.PolicySeverityMedium, acs.PolicySeverityHigh, acs.PolicySeverityCritical}

// ParsePolicySeverity reads LOW, MEDIUM, HIGH or CRITICAL (any case, with
// or without "_SEVERITY").
func ParsePolicySeverity(s string) (acs.PolicySeverity, error) {
	up := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "_SEVERITY")
	for _, sev := range policySeverities {
		if string(sev) == up+"_SEVERITY" {
			return sev, nil
		}
	}
	return "", fmt.Errorf("%q: want LOW, MEDIUM, HIGH or CRITICAL", short(s))
}

// rank orders policy severities; an unknown one ranks as UNSET (0), so it
// fails only through a deny list or an enforcement.
func rank(s acs.PolicySeverity) int {
	for i, sev := range policySeverities {
		if sev == s {
			return i + 1
		}
	}
	return 0
}

// ProcessAllowList is, per container, the executables it may run. A
// container of "*" applies to every container.
type ProcessAllowList struct {
	entries map[string][]string // container -> exact paths, or "prefix*"
}

// ParseProcessAllow reads entries "container:/path/to/exe". The path must
// be absolute and clean; a trailing "*" allows everything under a prefix
// (e.g. "server:/opt/app-root/bin/*"); container "*" means any container.
func ParseProcessAllow(entries []string) (*ProcessAllowList, error) {
	a := &ProcessAllowList{entries: map[string][]string{}}
	var errs []error
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue // an empty Tekton array element
		}
		container, p, ok := strings.Cut(e, ":")
		container = strings.TrimSpace(container)
		p = strings.TrimSpace(p)
		prefix, star := strings.CutSuffix(p, "*")
		switch {
		case !ok || container == "" || p == "":
			errs = append(errs, fmt.Errorf("%q: want container:/absolute/path", short(e)))
		case !strings.HasPrefix(p, "/"):
			errs = append(errs, fmt.Errorf("%q: the path must be absolute", short(e)))
		case strings.Contains(prefix, "*"):
			errs = append(errs, fmt.Errorf("%q: only a trailing * is allowed", short(e)))
		case !star && path.Clean(p) != p, star && path.Clean(prefix+"x") != prefix+"x":
			errs = append(errs, fmt.Errorf("%q: the path is not clean (no //, /./ or /../)", short(e)))
		default:
			a.entries[container] = append(a.entries[container], p)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

// Allows reports whether a container may run the executable at path.
func (a *ProcessAllowList) Allows(container, exe string) bool {
	for _, c := range []string{container, "*"} {
		for _, p := range a.entries[c] {
			if prefix, ok := strings.CutSuffix(p, "*"); ok {
				if strings.HasPrefix(exe, prefix) {
					return true
				}
			} else if p == exe {
				return true
			}
		}
	}
	return false
}

// Len is the number of entries.
func (a *ProcessAllowList) Len() int {
	n := 0
	for _, ps := range a.entries {
		n += len(ps)
	}
	return n
}

// OnFail is what a failed watch does to the workload.
type OnFail string

// Rollback actions.
const (
	OnFailNone        OnFail = "none"
	OnFailScaleToZero OnFail = "scale-to-zero"
)

// Bounds of a watch's timing.
const (
	DefaultWindow = 5 * time.Minute
	// DefaultGrace covers Central's one-minute indicator flush and the
	// 66 s upstream tests allow for a runtime alert.
	DefaultGrace = 90 * time.Second
	DefaultPoll  = 10 * time.Second
	// DefaultSkew absorbs the difference between the pipeline's clock and
	// Sensor's (alert times) and the nodes' (process times).
	DefaultSkew = time.Minute
	maxWindow   = 24 * time.Hour
)

// WatchOptions are a watch's settings as both doors receive them: as
// strings, named as the RuntimeWatch params and the `modelguard acs watch`
// flags are, so both report a bad value the same way.
type WatchOptions struct {
	Window, Grace, Poll string
	Severity            string
	IncludeDeploy       bool
	DenyPolicies        []string
	DenyCategories      []string
	AllowProcesses      []string
	AcceptInconclusive  []string
	OnFail              string
}

// OptionError names the option (param or flag) that is wrong.
type OptionError struct {
	Option, Problem string
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Problem }

// OptionErrors are every problem Parse found, in order.
type OptionErrors []*OptionError

func (es OptionErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// InconclusiveReasons are the reasons AcceptInconclusive may name.
var InconclusiveReasons = []string{ReasonMissingPermissions, ReasonSensorUnhealthy, ReasonDeploymentNotSeen, ReasonNoProcessesSeen, ReasonCentralUnavailable}

// Parse checks the options and returns the policy and timing. Every
// problem is reported, together as OptionErrors.
//
// An empty AllowProcesses means no allow-list (a pipeline that passes an
// empty array param through must not turn every process into a failure).
func (o WatchOptions) Parse() (RuntimePolicy, Timing, OnFail, error) {
	var errs OptionErrors
	bad := func(opt, format string, args ...any) {
		errs = append(errs, &OptionError{Option: opt, Problem: fmt.Sprintf(format, args...)})
	}
	var t Timing
	parsed := map[string]bool{}
	for _, d := range []struct {
		name, val string
		def, min  time.Duration
		out       *time.Duration
	}{
		{"window", o.Window, DefaultWindow, time.Second, &t.Window},
		{"grace", o.Grace, DefaultGrace, 0, &t.Grace},
		{"poll", o.Poll, DefaultPoll, time.Second, &t.Poll},
	} {
		*d.out = d.def
		if strings.TrimSpace(d.val) == "" {
			parsed[d.name] = true
			continue
		}
		v, err := time.ParseDuration(strings.TrimSpace(d.val))
		switch {
		case err != nil:
			bad(d.name, "%q is not a duration like 5m or 90s", short(d.val))
		case v < d.min || v > maxWindow:
			bad(d.name, "%s is outside %s..%s", v, d.min, maxWindow)
		default:
			*d.out = v
			parsed[d.name] = true
		}
	}
	if parsed["poll"] && parsed["window"] && t.Poll > t.Window {
		bad("poll", "%s is longer than the window (%s)", t.Poll, t.Window)
	}
	p := RuntimePolicy{Severity: acs.PolicySeverityHigh, IncludeDeploy: o.IncludeDeploy,
		DenyPolicies: nonEmpty(o.DenyPolicies), DenyCategories: nonEmpty(o.DenyCategories)}
	if strings.TrimSpace(o.Severity) != "" {
		sev, err := ParsePolicySeverity(o.Severity)
		if err != nil {
			bad("severity", "%v", err)
		}
		p.Severity = sev
	}
	allow, err := ParseProcessAllow(o.AllowProcesses)
	switch {
	case err != nil:
		bad("allow-processes", "%v", err)
	case allow.Len() > 0:
		p.Allow = allow
	}
	for _, r := range nonEmpty(o.AcceptInconclusive) {
		if !containsFold(InconclusiveReasons, r) {
			bad("accept-inconclusive", "%q: want one of %s", short(r), strings.Join(InconclusiveReasons, ", "))
			continue
		}
		p.AcceptInconclusive = append(p.AcceptInconclusive, canonical(InconclusiveReasons, r))
	}
	onFail := OnFail(strings.TrimSpace(o.OnFail))
	switch onFail {
	case "":
		onFail = OnFailNone
	case OnFailNone, OnFailScaleToZero:
	default:
		bad("on-fail", "%q: want none or scale-to-zero", short(o.OnFail))
	}
	if len(errs) > 0 {
		return p, t, onFail, errs
	}
	return p, t, onFail, nil
}

// Timing is when a watch looks.
type Timing struct {
	// Window is how long the workload is watched from the start; Grace how
	// long polling goes on after it before a pass; Poll the interval.
	Window, Grace, Poll time.Duration
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func containsFold(list []string, s string) bool { return canonical(list, s) != "" }

func canonical(list []string, s string) string {
	for _, l := range list {
		if strings.EqualFold(l, strings.TrimSpace(s)) {
			return l
		}
	}
	return ""
}
