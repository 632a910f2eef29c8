package gate

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
)

// Severity orders vulnerability severities; higher is worse.
type Severity int

// Severities, as ACS rates them (the vendor's rating under Scanner V4).
const (
	Unknown Severity = iota
	Low
	Moderate
	Important
	Critical
)

var severityNames = []string{"UNKNOWN", "LOW", "MODERATE", "IMPORTANT", "CRITICAL"}

func (s Severity) String() string { return severityNames[s] }

// ParseSeverity reads LOW, MODERATE, IMPORTANT or CRITICAL (any case).
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames[1:] {
		if strings.EqualFold(s, n) {
			return Severity(i + 1), nil
		}
	}
	return Unknown, fmt.Errorf("%q: want LOW, MODERATE, IMPORTANT or CRITICAL", short(s))
}

// rate is a CVE's severity for the gate. Central's rating wins when it is
// one of the four the gate knows. Anything else — UNKNOWN_VULNERABILITY_
// SEVERITY, a value added by a newer Central, garbage — must not slip
// under every threshold, so it falls back to the CVSS score's band (CVSS
// v3: 9.0 critical, 7.0 high, 4.0 medium, above 0 low), and a CVE with no
// score either is rated Critical: what the gate cannot rate, it blocks.
func rate(v acs.VulnerabilitySeverity, cvss float64) (Severity, string) {
	if s := severityOf(v); s != Unknown {
		return s, ""
	}
	switch {
	case cvss >= 9:
		return Critical, "cvss"
	case cvss >= 7:
		return Important, "cvss"
	case cvss >= 4:
		return Moderate, "cvss"
	case cvss > 0:
		return Low, "cvss"
	}
	return Critical, "unrated"
}

func severityOf(v acs.VulnerabilitySeverity) Severity {
	switch v {
	case acs.VulnSeverityLow:
		return Low
	case acs.VulnSeverityModerate:
		return Moderate
	case acs.VulnSeverityImportant:
		return Important
	case acs.VulnSeverityCritical:
		return Critical
	}
	return Unknown
}

// ScanPolicy is what an image must satisfy.
type ScanPolicy struct {
	// Threshold: a CVE at or above it blocks (default Critical).
	Threshold Severity
	// FixableOnly: only CVEs with a fixed version block.
	FixableOnly bool
	// Allow lists CVEs accepted until a date, each with a reason.
	Allow []Allow
	// Now decides which allowances have expired.
	Now time.Time
}

// Finding is one CVE in one component.
type Finding struct {
	CVE      string   `json:"cve"`
	Severity Severity `json:"-"`
	Sev      string   `json:"severity"`
	// RatedBy says where Severity came from when Central gave none the
	// gate knows: "cvss" (the score's band) or "unrated" (no score either:
	// rated Critical, so it blocks at any threshold).
	RatedBy   string  `json:"ratedBy,omitempty"`
	CVSS      float64 `json:"cvss"`
	Component string  `json:"component"`
	Version   string  `json:"version"`
	FixedBy   string  `json:"fixedBy,omitempty"`
	Link      string  `json:"link,omitempty"`
	// AllowedUntil and AllowReason are set for findings an allowance covers.
	AllowedUntil string `json:"allowedUntil,omitempty"`
	AllowReason  string `json:"allowReason,omitempty"`
}

// Fixable reports whether a fixed version exists.
func (f Finding) Fixable() bool { return f.FixedBy != "" }

// Reasons a scan gate says no.
const (
	ReasonVulnerabilities = "VulnerabilitiesFound"
	ReasonIncompleteScan  = "IncompleteScan"
	ReasonNoScanData      = "NoScanData"
)

// ScanReport is the gate's view of one scan.
type ScanReport struct {
	Image string `json:"image"`
	// ScannedDigest is what Central's answer is about (the platform
	// manifest, for an index).
	ScannedDigest  string         `json:"scannedDigest,omitempty"`
	ScannerVersion string         `json:"scannerVersion,omitempty"`
	DataSource     string         `json:"dataSource,omitempty"`
	Counts         map[string]int `json:"counts"`        // unique CVEs per severity
	FixableCounts  map[string]int `json:"fixableCounts"` // of those, with a fix
	Notes          []string       `json:"notes,omitempty"`
	Blocking       []Finding      `json:"blocking,omitempty"`
	Allowed        []Finding      `json:"allowed,omitempty"`
	Findings       []Finding      `json:"findings"`
	Verdict
}

// EvaluateScan judges a scanned image. A scan with notes (partial data, no
// OS, stale feeds) is never called clean: it may be missing exactly the
// CVEs that matter.
func EvaluateScan(img *acs.Image, p ScanPolicy) ScanReport {
	if p.Threshold == Unknown {
		p.Threshold = Critical
	}
	r := ScanReport{Counts: map[string]int{}, FixableCounts: map[string]int{}}
	for _, n := range severityNames[1:] {
		r.Counts[n], r.FixableCounts[n] = 0, 0
	}
	if img == nil || img.Scan == nil {
		r.Verdict = Verdict{Outcome: Fail, Reason: ReasonNoScanData, Message: "Central returned no scan data for the image"}
		return r
	}
	if img.Name != nil {
		r.Image = img.Name.FullName
	}
	r.ScannedDigest = scannedDigest(img)
	r.ScannerVersion = img.Scan.ScannerVersion
	if img.Scan.DataSource != nil {
		r.DataSource = img.Scan.DataSource.Name
	}
	for _, n := range img.Scan.Notes {
		if n != acs.ScanNoteUnset && n != "" {
			r.Notes = append(r.Notes, string(n))
		}
	}
	for _, n := range img.Notes {
		if n == acs.ImageNoteMissingScanData {
			r.Notes = append(r.Notes, string(n))
		}
	}
	r.Findings = findings(img)
	seen := map[string]Severity{}
	for _, f := range r.Findings {
		if prev, ok := seen[f.CVE]; !ok || f.Severity > prev {
			seen[f.CVE] = f.Severity
		}
	}
	fixable := map[string]bool{}
	for _, f := range r.Findings {
		fixable[f.CVE] = fixable[f.CVE] || f.Fixable()
	}
	for cve, sev := range seen {
		r.Counts[sev.String()]++
		if fixable[cve] {
			r.FixableCounts[sev.String()]++
		}
	}
	for _, f := range r.Findings {
		if f.Severity < p.Threshold || (p.FixableOnly && !f.Fixable()) {
			continue
		}
		if a, ok := allowed(p, f.CVE); ok {
			f.AllowedUntil, f.AllowReason = a.Expires.Format(time.DateOnly), a.Reason
			r.Allowed = append(r.Allowed, f)
			continue
		}
		r.Blocking = append(r.Blocking, f)
	}
	r.Outcome = Fail
	switch {
	case len(r.Notes) > 0:
		r.Reason = ReasonIncompleteScan
		r.Message = fmt.Sprintf("the scan is incomplete (%s), so the image cannot be called clean", strings.Join(r.Notes, ", "))
	case len(r.Blocking) > 0:
		r.Reason = ReasonVulnerabilities
		r.Message = fmt.Sprintf("%d CVE finding(s) at or above %s%s, first: %s", len(r.Blocking), p.Threshold, fixableWord(p), r.Blocking[0].describe())
	default:
		r.Outcome = Pass
		r.Message = fmt.Sprintf("no CVE at or above %s%s", p.Threshold, fixableWord(p))
		if len(r.Allowed) > 0 {
			r.Message += fmt.Sprintf(" except %d allow-listed", len(r.Allowed))
		}
	}
	return r
}

func fixableWord(p ScanPolicy) string {
	if p.FixableOnly {
		return " with a fix"
	}
	return ""
}

func (f Finding) describe() string {
	sev := f.Sev
	if f.RatedBy != "" {
		sev += " rated by " + f.RatedBy
	}
	s := fmt.Sprintf("%s (%s, CVSS %.1f) in %s %s", short(f.CVE), sev, f.CVSS, short(f.Component), short(f.Version))
	if f.FixedBy != "" {
		s += ", fixed in " + f.FixedBy
	}
	return s
}

// findings lists every CVE of every component, worst first. Suppressed
// (snoozed) CVEs are left out, as Central's own policy engine does.
func findings(img *acs.Image) []Finding {
	var out []Finding
	for _, c := range img.Scan.Components {
		for _, v := range c.Vulns {
			if v.Suppressed {
				continue
			}
			sev, rated := rate(v.Severity, v.CVSS)
			out = append(out, Finding{CVE: v.CVE, Severity: sev, Sev: sev.String(), RatedBy: rated, CVSS: v.CVSS,
				Component: c.Name, Version: c.Version, FixedBy: v.FixedBy, Link: v.Link})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.CVSS != b.CVSS {
			return a.CVSS > b.CVSS
		}
		if a.CVE != b.CVE {
			return a.CVE < b.CVE
		}
		return a.Component < b.Component
	})
	return out
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
