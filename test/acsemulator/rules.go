package acsemulator

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Rule is a policy's match condition. It stands in for Central's policy
// sections, which are too verbose to read in a test data file. Every condition
// that is set must hold (like groups in one Central policy section); a rule
// with no condition is rejected.
//
// Image conditions work in build and deploy policies; for a deploy policy they
// are checked against each container's image, looked up in Data.Images.
// Container conditions work only in deploy policies.
type Rule struct {
	// CVESeverityAtLeast matches CVEs rated at least this (LOW, MODERATE,
	// IMPORTANT, CRITICAL).
	CVESeverityAtLeast string `json:"cveSeverityAtLeast,omitempty"`
	// Fixable, when set, limits CVE conditions to CVEs with (true) or without
	// (false) a fix. On its own it matches any CVE with or without a fix.
	Fixable *bool `json:"fixable,omitempty"`
	// CVSSAtLeast matches CVEs whose CVSS score is at least this.
	CVSSAtLeast *float64 `json:"cvssAtLeast,omitempty"`
	// ComponentName is a regular expression that must match a component's
	// whole name, case-insensitively (Central's "Image Component" field).
	// Together with CVE conditions it limits them to that component.
	ComponentName string `json:"componentName,omitempty"`
	// ImageTagIs matches the tag of the image as it was referenced.
	ImageTagIs string `json:"imageTagIs,omitempty"`
	// ImageUser matches the image's USER against any of these values.
	ImageUser []string `json:"imageUser,omitempty"`

	// Privileged matches containers with securityContext.privileged: true.
	Privileged bool `json:"privileged,omitempty"`
	// RunAsRoot matches containers that run as uid 0, or may: no
	// runAsNonRoot and no runAsUser (container or pod level), and an image
	// whose USER is root or unknown.
	RunAsRoot bool `json:"runAsRoot,omitempty"`
	// LatestTag matches containers whose image tag is "latest", including an
	// image given with neither tag nor digest.
	LatestTag bool `json:"latestTag,omitempty"`
	// MissingResourceLimits matches containers without a CPU or memory limit.
	MissingResourceLimits bool `json:"missingResourceLimits,omitempty"`

	// problems collects unknown keys and meaningless "false" switches seen
	// while decoding, so Validate can report them with the policy's path.
	problems []string
}

var (
	imageRuleKeys     = []string{"cveSeverityAtLeast", "fixable", "cvssAtLeast", "componentName", "imageTagIs", "imageUser"}
	containerRuleKeys = []string{"privileged", "runAsRoot", "latestTag", "missingResourceLimits"}
)

// UnmarshalJSON decodes known keys and remembers the rest for Validate.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("match must be a mapping of rule names to values")
	}
	type plain Rule // no UnmarshalJSON, so no recursion
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = Rule(p)
	known := map[string]bool{}
	for _, k := range append(append([]string{}, imageRuleKeys...), containerRuleKeys...) {
		known[k] = true
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case !known[k]:
			r.problems = append(r.problems, fmt.Sprintf("unknown policy rule %q (known rules: %s, %s)",
				k, strings.Join(imageRuleKeys, ", "), strings.Join(containerRuleKeys, ", ")))
		case string(raw[k]) == "false" && k != "fixable":
			r.problems = append(r.problems, fmt.Sprintf("%s: only true is meaningful; leave the rule out instead", k))
		}
	}
	return nil
}

func (r Rule) hasCVECondition() bool {
	return r.CVESeverityAtLeast != "" || r.Fixable != nil || r.CVSSAtLeast != nil
}

func (r Rule) hasContainerCondition() bool {
	return r.Privileged || r.RunAsRoot || r.LatestTag || r.MissingResourceLimits
}

func (r Rule) validate(p string, deploy bool) error {
	if len(r.problems) > 0 {
		return fmt.Errorf("%s: %s", p, r.problems[0])
	}
	if r.CVESeverityAtLeast != "" {
		if err := oneOf(p+".cveSeverityAtLeast", r.CVESeverityAtLeast, cveSeverities); err != nil {
			return err
		}
	}
	if r.CVSSAtLeast != nil && (*r.CVSSAtLeast < 0 || *r.CVSSAtLeast > 10) {
		return fmt.Errorf("%s.cvssAtLeast: %v is outside 0..10", p, *r.CVSSAtLeast)
	}
	if r.ComponentName != "" {
		if _, err := regexp.Compile(`^(?i:` + r.ComponentName + `)$`); err != nil {
			return fmt.Errorf("%s.componentName: %v", p, err)
		}
	}
	if !deploy && r.hasContainerCondition() {
		return fmt.Errorf("%s: container rules (%s) only work in deployPolicies", p, strings.Join(containerRuleKeys, ", "))
	}
	if !r.hasCVECondition() && !r.hasContainerCondition() && r.ComponentName == "" && r.ImageTagIs == "" && len(r.ImageUser) == 0 {
		return fmt.Errorf("%s: needs at least one rule", p)
	}
	return nil
}

// imageView is what a policy sees of one image: the reference as the request
// or the deployment wrote it, plus the data record if Central "knows" it.
type imageView struct {
	ref  imageRef
	img  *Image // nil: unknown to Central, so no metadata and no scan
	scan bool   // img has scan data
}

// container is the part of a pod container the deploy rules look at.
type container struct {
	name           string
	privileged     bool
	runAsUser      *int64
	runAsNonRoot   bool
	hasCPULimit    bool
	hasMemoryLimit bool
}

var severityRank = map[string]int{"LOW": 1, "MODERATE": 2, "IMPORTANT": 3, "CRITICAL": 4}

// eval returns the violation messages of the rule against one image (and, for
// a deploy policy, one container), or nil when any condition does not hold.
// Snoozed CVEs are invisible here, as Central filters them before detection.
func (r Rule) eval(v imageView, c *container) []string {
	var msgs []string
	need := func(m []string) bool { msgs = append(msgs, m...); return len(m) > 0 }
	if r.hasCVECondition() || r.ComponentName != "" {
		if !need(r.evalComponents(v)) {
			return nil
		}
	}
	if r.ImageTagIs != "" && !need(when(v.ref.Tag == r.ImageTagIs, "Image has tag '%s'", v.ref.Tag)) {
		return nil
	}
	// Without a data record Central has no image metadata, so no USER.
	if len(r.ImageUser) > 0 && (v.img == nil || !need(when(contains(r.ImageUser, v.img.User), "Image user is set to '%s'", v.img.User))) {
		return nil
	}
	if c == nil {
		return msgs
	}
	if r.Privileged && !need(when(c.privileged, "Container '%s' is privileged", c.name)) {
		return nil
	}
	if r.RunAsRoot && !need(c.rootMessage(v)) {
		return nil
	}
	if r.LatestTag && !need(when(v.ref.Tag == "latest", "Container '%s' uses image tag 'latest'", c.name)) {
		return nil
	}
	if r.MissingResourceLimits {
		m := append(when(!c.hasCPULimit, "CPU limit set to 0 cores for container '%s'", c.name),
			when(!c.hasMemoryLimit, "Memory limit set to 0 MB for container '%s'", c.name)...)
		if !need(m) {
			return nil
		}
	}
	return msgs
}

func (r Rule) evalComponents(v imageView) []string {
	if !v.scan {
		return nil // Central's trap: no scan data, so nothing to match
	}
	var comp *regexp.Regexp
	if r.ComponentName != "" {
		comp = regexp.MustCompile(`^(?i:` + r.ComponentName + `)$`)
	}
	var msgs []string
	for _, c := range v.img.Components {
		if comp != nil && !comp.MatchString(c.Name) {
			continue
		}
		if !r.hasCVECondition() {
			msgs = append(msgs, fmt.Sprintf("Image contains component '%s' (version %s)", c.Name, c.Version))
			continue
		}
		for _, cve := range c.CVEs {
			if !cve.Snoozed && r.matchCVE(cve) {
				msgs = append(msgs, cveMessage(c, cve))
			}
		}
	}
	return msgs
}

func (r Rule) matchCVE(cve CVE) bool {
	if r.CVESeverityAtLeast != "" && severityRank[cve.Severity] < severityRank[r.CVESeverityAtLeast] {
		return false
	}
	if r.Fixable != nil && *r.Fixable != isFixable(cve) {
		return false
	}
	return r.CVSSAtLeast == nil || cve.CVSS >= *r.CVSSAtLeast
}

func isFixable(cve CVE) bool { return cve.FixedBy != nil && *cve.FixedBy != "" }

// cveMessage follows the wording of Central's vulnerability violations.
func cveMessage(c Component, cve CVE) string {
	score := strconv.FormatFloat(cve.CVSS, 'f', -1, 64)
	sev := cve.Severity[:1] + strings.ToLower(cve.Severity[1:])
	base := fmt.Sprintf("%s (CVSS %s, NVD CVSS %s) (severity %s) found in component '%s' (version %s)",
		cve.ID, score, score, sev, c.Name, c.Version)
	if isFixable(cve) {
		return "Fixable " + base + ", resolved by version " + *cve.FixedBy
	}
	return base
}

// rootMessage decides runAsRoot the way the kubelet would pick the user: the
// container's or pod's runAsUser, else the image's USER.
func (c *container) rootMessage(v imageView) []string {
	if c.runAsUser != nil {
		return when(*c.runAsUser == 0, "Container '%s' runs as user 0 (root)", c.name)
	}
	if c.runAsNonRoot {
		return nil
	}
	if v.img != nil && !isRootUser(v.img.User) {
		return nil
	}
	return when(true, "Container '%s' sets neither runAsNonRoot nor runAsUser and its image user is root or unknown", c.name)
}

func isRootUser(u string) bool {
	name, _, _ := strings.Cut(u, ":")
	return name == "" || name == "0" || name == "root"
}

func when(cond bool, format string, args ...any) []string {
	if !cond {
		return nil
	}
	return []string{fmt.Sprintf(format, args...)}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
