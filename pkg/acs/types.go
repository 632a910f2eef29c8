package acs

// Image is the response of POST /v1/images/scan (storage.Image, the V1
// message Central still returns). Only what a gate reads is declared; the
// rest of the document (layers, licences, CVSS vectors, summaries, EPSS,
// signature data) is checked and dropped while it streams by, so a scan
// costs memory for what the gate uses, within DefaultLimits.
type Image struct {
	// ID is the manifest digest ("sha256:…"). Compare images by it, not by
	// name: FullName comes back normalised (docker.io/library/…:latest).
	ID       string         `json:"id"`
	Name     *ImageName     `json:"name"`
	Metadata *ImageMetadata `json:"metadata"`
	// Scan is nil when Central has no scan data for the image.
	Scan  *ImageScan  `json:"scan"`
	Notes []ImageNote `json:"notes" max:"64"`

	retained int64 // bytes the decoder kept, for caches (RetainedBytes)
}

// RetainedBytes is about what the decoded image holds in memory: its
// strings, slices and structs, as the bounded decoder counted them. It is 0
// for an Image not made by DecodeImage.
func (img *Image) RetainedBytes() int64 { return img.retained }

// ImageName is one name of an image (storage.ImageName).
type ImageName struct {
	Registry string `json:"registry"`
	Remote   string `json:"remote"`
	Tag      string `json:"tag"`
	FullName string `json:"fullName"`
}

// ImageMetadata is what Central read from the registry; only the manifest
// digest is kept.
type ImageMetadata struct {
	// V2.Digest is the platform manifest Central resolved. For a multi-arch
	// index it differs from the index digest a pipeline signs.
	V2 *V2Metadata `json:"v2"`
}

// V2Metadata holds the manifest digest.
type V2Metadata struct {
	Digest string `json:"digest"`
}

// DataSource names the integration (registry or scanner) that produced data.
// For scans, ScannerV4ID and StackRoxScannerID identify the two scanners.
type DataSource struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// IDs of Central's default scanner integrations (scan.dataSource.id).
const (
	ScannerV4ID       = "a87471e6-9678-4e66-8348-91e302b6de07"
	StackRoxScannerID = "169b0d3f-8277-4900-bbce-1127077defae"
)

// ImageScan is the scan result (storage.ImageScan).
type ImageScan struct {
	ScannerVersion string `json:"scannerVersion"`
	// Components can run to thousands of entries; they are decoded one by
	// one from the response stream.
	Components      []ImageComponent `json:"components"`
	OperatingSystem string           `json:"operatingSystem"` // "rhel:9", "unknown", …
	DataSource      *DataSource      `json:"dataSource"`
	// Notes other than UNSET mean the scan is incomplete: a 200 with
	// OS_UNAVAILABLE or PARTIAL_SCAN_DATA is not a clean scan.
	Notes []ScanNote `json:"notes" max:"64"`
}

// ImageComponent is one package found in the image
// (storage.EmbeddedImageScanComponent).
type ImageComponent struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	Vulns   []Vulnerability `json:"vulns"`
}

// Vulnerability is one vulnerability of a component
// (storage.EmbeddedVulnerability), as far as a gate reads it.
type Vulnerability struct {
	// CVE may also be a GHSA or OSV id for language packages.
	CVE  string  `json:"cve"`
	CVSS float64 `json:"cvss"`
	Link string  `json:"link"`
	// FixedBy is a oneof member: absent and "" both mean "no fix".
	FixedBy  string                `json:"fixedBy,omitempty"`
	Severity VulnerabilitySeverity `json:"severity"`
	// Snoozed (deferred) CVEs are only returned with IncludeSnoozed.
	Suppressed bool `json:"suppressed"`
}
