// Package report renders a gate's outcome in the formats CI systems read
// besides our own JSON: SARIF 2.1.0, which code-scanning UIs show next to
// the code, and JUnit XML, which most CI servers show as a test report.
//
// A Report is neutral: the acs commands turn a scan or a policy check into
// one, and the renderers know nothing about ACS.
package report

// Level is how loud a result is, in SARIF's words.
type Level string

// Levels.
const (
	Error   Level = "error"   // made the gate fail
	Warning Level = "warning" // serious, but the gate let it through
	Note    Level = "note"    // for information
)

// Rule is what was broken: a CVE or a policy.
type Rule struct {
	ID          string
	Name        string // short, e.g. the policy name or "CVE in openssl"
	Description string
	HelpURI     string
	// SecuritySeverity is a CVSS-like score, "0.0" to "10.0", which code
	// scanning uses to rank security results; empty when unknown.
	SecuritySeverity string
	Tags             []string
}

// Result is one finding: a rule broken at a location.
type Result struct {
	Rule     Rule
	Level    Level
	Message  string
	Location string // what it was found in: an image reference or a manifest file
	// Failing: this result, on its own, made the gate fail.
	Failing bool
}

// Report is one run of one gate.
type Report struct {
	Tool    string // e.g. "modelguard acs scan"
	Version string
	Subject string // the image or manifests judged
	Pass    bool
	Reason  string // why it failed; empty when it passed
	Summary string
	Results []Result
}
