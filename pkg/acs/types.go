package acs

import "time"

// Image is the response of POST /v1/images/scan (storage.Image, the V1
// message Central still returns). Only the fields a scanner or gate client
// reads are declared; the rest of the document is skipped while decoding.
type Image struct {
	// ID is the manifest digest ("sha256:…"). Compare images by it, not by
	// name: FullName comes back normalised (docker.io/library/…:latest).
	ID       string         `json:"id"`
	Name     *ImageName     `json:"name"`
	Names    []ImageName    `json:"names"`
	Metadata *ImageMetadata `json:"metadata"`
	// Scan is nil when Central has no scan data for the image.
	Scan                      *ImageScan                 `json:"scan"`
	SignatureVerificationData *SignatureVerificationData `json:"signatureVerificationData"`

	// Counters are members of proto oneofs: nil means "not computed", which
	// is not the same as zero.
	Components  *int32   `json:"components,omitempty"`
	CVEs        *int32   `json:"cves,omitempty"`
	FixableCVEs *int32   `json:"fixableCves,omitempty"`
	TopCVSS     *float64 `json:"topCvss,omitempty"`

	LastUpdated    *time.Time  `json:"lastUpdated"`
	NotPullable    bool        `json:"notPullable"`
	IsClusterLocal bool        `json:"isClusterLocal"`
	Priority       Int64       `json:"priority"`
	RiskScore      float64     `json:"riskScore"`
	Notes          []ImageNote `json:"notes"`
}

// ImageName is one name of an image (storage.ImageName).
type ImageName struct {
	Registry string `json:"registry"`
	Remote   string `json:"remote"`
	Tag      string `json:"tag"`
	FullName string `json:"fullName"`
}

// ImageMetadata is what Central read from the registry.
type ImageMetadata struct {
	V1 *V1Metadata `json:"v1"`
	// V2.Digest is the platform manifest Central resolved. For a multi-arch
	// index it differs from the index digest a pipeline signs.
	V2         *V2Metadata `json:"v2"`
	LayerShas  []string    `json:"layerShas"`
	DataSource *DataSource `json:"dataSource"`
	Version    Uint64      `json:"version"`
}

// V1Metadata is the image config (storage.V1Metadata).
type V1Metadata struct {
	Digest     string            `json:"digest"`
	Created    *time.Time        `json:"created"`
	Author     string            `json:"author"`
	Layers     []ImageLayer      `json:"layers"`
	User       string            `json:"user"`
	Command    []string          `json:"command"`
	Entrypoint []string          `json:"entrypoint"`
	Volumes    []string          `json:"volumes"`
	Labels     map[string]string `json:"labels"`
}

// ImageLayer is one history entry of the image config.
type ImageLayer struct {
	Instruction string     `json:"instruction"`
	Value       string     `json:"value"`
	Created     *time.Time `json:"created"`
	Author      string     `json:"author"`
	Empty       bool       `json:"empty"`
}

// V2Metadata holds the manifest digest.
type V2Metadata struct {
	Digest string `json:"digest"`
}

// DataSource names the integration (registry or scanner) that produced data.
// For scans, ScannerV4ID and StackRoxScannerID identify the two scanners.
type DataSource struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Mirror string `json:"mirror"`
}

// IDs of Central's default scanner integrations (scan.dataSource.id).
const (
	ScannerV4ID       = "a87471e6-9678-4e66-8348-91e302b6de07"
	StackRoxScannerID = "169b0d3f-8277-4900-bbce-1127077defae"
)

// ImageScan is the scan result (storage.ImageScan).
type ImageScan struct {
	ScannerVersion string     `json:"scannerVersion"`
	ScanTime       *time.Time `json:"scanTime"`
	// Components can run to thousands of entries; Client decodes them one by
	// one from the response stream.
	Components      []ImageComponent `json:"components"`
	OperatingSystem string           `json:"operatingSystem"` // "rhel:9", "unknown", …
	DataSource      *DataSource      `json:"dataSource"`
	// Notes other than UNSET mean the scan is incomplete: a 200 with
	// OS_UNAVAILABLE or PARTIAL_SCAN_DATA is not a clean scan.
	Notes []ScanNote `json:"notes"`
	Hash  Uint64     `json:"hash,omitempty"`
}

// ImageComponent is one package found in the image
// (storage.EmbeddedImageScanComponent).
type ImageComponent struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	License *License        `json:"license"`
	Vulns   []Vulnerability `json:"vulns"`
	// LayerIndex and TopCVSS are oneof members: nil when absent.
	LayerIndex *int32          `json:"layerIndex,omitempty"`
	Priority   Int64           `json:"priority"`
	Source     ComponentSource `json:"source"`
	// Location is the file a language package was found in.
	Location  string   `json:"location"`
	TopCVSS   *float64 `json:"topCvss,omitempty"`
	RiskScore float64  `json:"riskScore"`
	// FixedBy is the version that fixes all of the component's fixable vulns.
	FixedBy      string `json:"fixedBy"`
	Architecture string `json:"architecture"`
}

// License is a component's license, when the scanner knows it.
type License struct {
	Name string `json:"name"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Vulnerability is one vulnerability of a component
// (storage.EmbeddedVulnerability).
type Vulnerability struct {
	// CVE may also be a GHSA or OSV id for language packages.
	CVE      string    `json:"cve"`
	Advisory *Advisory `json:"advisory"`
	CVSS     float64   `json:"cvss"`
	Summary  string    `json:"summary"`
	Link     string    `json:"link"`
	// FixedBy is a oneof member: absent and "" both mean "no fix".
	FixedBy      string  `json:"fixedBy,omitempty"`
	ScoreVersion string  `json:"scoreVersion"` // V2, V3
	CVSSV2       *CVSSV2 `json:"cvssV2"`
	CVSSV3       *CVSSV3 `json:"cvssV3"`

	PublishedOn        *time.Time `json:"publishedOn"`
	LastModified       *time.Time `json:"lastModified"`
	VulnerabilityType  string     `json:"vulnerabilityType"`
	VulnerabilityTypes []string   `json:"vulnerabilityTypes"`

	// Snoozed (deferred) CVEs are only returned with IncludeSnoozed.
	Suppressed         bool       `json:"suppressed"`
	SuppressActivation *time.Time `json:"suppressActivation"`
	SuppressExpiry     *time.Time `json:"suppressExpiry"`

	FirstSystemOccurrence *time.Time `json:"firstSystemOccurrence"`
	FirstImageOccurrence  *time.Time `json:"firstImageOccurrence"`
	FixAvailableTimestamp *time.Time `json:"fixAvailableTimestamp"`

	Severity    VulnerabilitySeverity `json:"severity"`
	State       VulnerabilityState    `json:"state"`
	CVSSMetrics []CVSSScore           `json:"cvssMetrics"`
	NVDCVSS     float64               `json:"nvdCvss"`
	EPSS        *EPSS                 `json:"epss"`
	Origin      string                `json:"origin"` // VULN_ORIGIN_RED_HAT, …
}

// Advisory is the vendor advisory (e.g. an RHSA) that covers a CVE.
type Advisory struct {
	Name string `json:"name"`
	Link string `json:"link"`
}

// CVSSV2 is a CVSS v2 assessment. Enum fields are plain strings.
type CVSSV2 struct {
	Vector              string  `json:"vector"`
	AttackVector        string  `json:"attackVector"`
	AccessComplexity    string  `json:"accessComplexity"`
	Authentication      string  `json:"authentication"`
	Confidentiality     string  `json:"confidentiality"`
	Integrity           string  `json:"integrity"`
	Availability        string  `json:"availability"`
	ExploitabilityScore float64 `json:"exploitabilityScore"`
	ImpactScore         float64 `json:"impactScore"`
	Score               float64 `json:"score"`
	Severity            string  `json:"severity"`
}

// CVSSV3 is a CVSS v3 assessment. Enum fields are plain strings
// (ATTACK_NETWORK, COMPLEXITY_LOW, …; severity NONE…CRITICAL).
type CVSSV3 struct {
	Vector              string  `json:"vector"`
	ExploitabilityScore float64 `json:"exploitabilityScore"`
	ImpactScore         float64 `json:"impactScore"`
	AttackVector        string  `json:"attackVector"`
	AttackComplexity    string  `json:"attackComplexity"`
	PrivilegesRequired  string  `json:"privilegesRequired"`
	UserInteraction     string  `json:"userInteraction"`
	Scope               string  `json:"scope"`
	Confidentiality     string  `json:"confidentiality"`
	Integrity           string  `json:"integrity"`
	Availability        string  `json:"availability"`
	Score               float64 `json:"score"`
	Severity            string  `json:"severity"`
}

// CVSSScore is one source's CVSS assessment (Scanner V4 fills several).
type CVSSScore struct {
	Source string  `json:"source"` // SOURCE_RED_HAT, SOURCE_NVD, SOURCE_OSV, …
	URL    string  `json:"url"`
	CVSSV2 *CVSSV2 `json:"cvssv2,omitempty"`
	CVSSV3 *CVSSV3 `json:"cvssv3,omitempty"`
}

// EPSS is the exploit prediction score of a CVE.
type EPSS struct {
	Probability float64 `json:"epssProbability"`
	Percentile  float64 `json:"epssPercentile"`
}

// SignatureVerificationData is how Central's signature integrations judged
// the image's signatures.
type SignatureVerificationData struct {
	Results []SignatureVerificationResult `json:"results"`
}

// SignatureVerificationResult is one verifier's verdict.
type SignatureVerificationResult struct {
	VerificationTime        *time.Time                  `json:"verificationTime"`
	VerifierID              string                      `json:"verifierId"`
	Status                  SignatureVerificationStatus `json:"status"`
	Description             string                      `json:"description"`
	VerifiedImageReferences []string                    `json:"verifiedImageReferences"`
	VerifierName            string                      `json:"verifierName"`
}
