package attest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"
	slsa02 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v0.2"
	"github.com/sigstore/cosign/v2/pkg/cosign/attestation"
)

// Invocation says which run made a statement: its URI
// (tekton.dev/CustomRun/<ns>/<name>, or the CLI) and its UID.
type Invocation struct {
	URI     string
	EventID string
	// Namespace the run was in ("" outside a cluster).
	Namespace string
}

// Scan is one vulnerability scan and the gate's verdict on it, as the
// vuln predicate records it.
type Scan struct {
	ScannerURI, ScannerVersion string
	DBURI, DBVersion           string
	Started, Finished          time.Time
	Invocation                 Invocation
	Result                     ScanResult
}

// ScanResult is the scanner.result of modelguard's vuln predicate.
type ScanResult struct {
	// Verdict is "pass" or "fail": the gate's answer, not the scanner's.
	Verdict string         `json:"verdict"`
	Reason  string         `json:"reason,omitempty"`
	Summary string         `json:"summary"`
	Counts  map[string]int `json:"counts,omitempty"`
	Notes   []string       `json:"notes,omitempty"`
	CVEs    []ScanCVE      `json:"cves"`
	// Truncated counts CVEs left out past MaxScanCVEs.
	Truncated int `json:"truncated,omitempty"`
}

// ScanCVE is one finding.
type ScanCVE struct {
	ID        string  `json:"id"`
	Severity  string  `json:"severity"`
	CVSS      float64 `json:"cvss,omitempty"`
	Component string  `json:"component"`
	Version   string  `json:"version"`
	FixedBy   string  `json:"fixedBy,omitempty"`
	Blocking  bool    `json:"blocking,omitempty"`
}

// MaxScanCVEs bounds the findings one statement carries: an image with
// tens of thousands of CVEs must not make a statement of many megabytes.
const MaxScanCVEs = 2000

// VulnPredicate is the scan as cosign's vuln predicate
// (https://cosign.sigstore.dev/attestation/vuln/v1).
func VulnPredicate(s Scan) attestation.CosignVulnPredicate {
	if n := len(s.Result.CVEs); n > MaxScanCVEs {
		s.Result.Truncated = n - MaxScanCVEs
		s.Result.CVEs = s.Result.CVEs[:MaxScanCVEs]
	}
	if s.Result.CVEs == nil {
		s.Result.CVEs = []ScanCVE{}
	}
	var p attestation.CosignVulnPredicate
	p.Invocation = attestation.Invocation{
		Parameters: map[string]string{"namespace": s.Invocation.Namespace},
		URI:        s.Invocation.URI, EventID: s.Invocation.EventID, BuilderID: PipelineBuilderID,
	}
	p.Scanner.URI, p.Scanner.Version = s.ScannerURI, s.ScannerVersion
	p.Scanner.DB.URI, p.Scanner.DB.Version = s.DBURI, s.DBVersion
	p.Scanner.Result = s.Result
	p.Metadata.ScanStartedOn, p.Metadata.ScanFinishedOn = s.Started.UTC(), s.Finished.UTC()
	return p
}

// Verdict is a policy gate's answer about an image (ImageCheck,
// DeploymentCheck), as modelguard's own predicate records it.
type Verdict struct {
	Gate       string     `json:"gate"`    // ImageCheck, DeploymentCheck
	Verdict    string     `json:"verdict"` // pass, fail
	Reason     string     `json:"reason,omitempty"`
	Summary    string     `json:"summary"`
	Violated   []string   `json:"violatedPolicies"`
	Breaking   []string   `json:"breakingPolicies"`
	CheckedOn  time.Time  `json:"checkedOn"`
	Invocation Invocation `json:"invocation"`
}

// MarshalJSON writes the invocation in the vuln predicate's shape.
func (i Invocation) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"uri": i.URI, "event_id": i.EventID, "namespace": i.Namespace})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (i *Invocation) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("invocation: %w", err)
	}
	i.URI, i.EventID, i.Namespace = m["uri"], m["event_id"], m["namespace"]
	return nil
}

// predicateNames are cosign's --type names, mapped to predicate URIs with
// the constants cosign itself uses.
var predicateNames = map[string]string{
	"custom":           attestation.CosignCustomProvenanceV01,
	"slsaprovenance":   slsa02.PredicateSLSAProvenance,
	"slsaprovenance02": slsa02.PredicateSLSAProvenance,
	"slsaprovenance1":  PredicateSLSA1,
	"spdx":             in_toto.PredicateSPDX,
	"spdxjson":         in_toto.PredicateSPDX,
	"cyclonedx":        PredicateCycloneDX,
	"link":             in_toto.PredicateLinkV1,
	"vuln":             PredicateVuln,
	"openvex":          attestation.OpenVexNamespace,
}

// ParsePredicateType maps a cosign --type name to its URI, or checks that
// t is an absolute URI.
func ParsePredicateType(t string) (string, error) {
	if uri, ok := predicateNames[t]; ok {
		return uri, nil
	}
	if u, err := url.ParseRequestURI(t); err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("%q is neither a cosign predicate type (vuln, cyclonedx, slsaprovenance1, custom, ...) nor a URI", cut(t, 64))
	}
	return t, nil
}
