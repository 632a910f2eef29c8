package acsemulator

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Data is everything the emulator knows: the images Central has "scanned" and
// the policies it evaluates. It is usually read from a YAML file with Load; see
// testdata/central.yaml for a commented example. Field names are the YAML keys.
type Data struct {
	Central Central `json:"central"`
	// Images are the images whose scans the emulator can return.
	Images []Image `json:"images"`
	// BuildPolicies are evaluated by POST /v1/detect/build (lifecycle BUILD).
	BuildPolicies []Policy `json:"buildPolicies"`
	// DeployPolicies are evaluated by POST /v1/detect/deploy/yaml (lifecycle DEPLOY).
	DeployPolicies []Policy `json:"deployPolicies"`
}

// Central holds the emulated Central's identity.
type Central struct {
	// Version is reported by GET /v1/metadata and as scan.scannerVersion.
	// Default "4.8.3".
	Version string `json:"version,omitempty"`
	// Permissions is the token's access per resource, as GET /v1/mypermissions
	// reports it (NO_ACCESS, READ_ACCESS, READ_WRITE_ACCESS). A resource left
	// out has NO_ACCESS. When the whole map is empty the token gets the
	// "Continuous Integration" role's essentials: Image READ_WRITE_ACCESS and
	// Detection READ_ACCESS. Scan needs Image READ_WRITE_ACCESS and detect needs
	// Detection READ_ACCESS; otherwise the emulator answers 403 like Central.
	Permissions map[string]string `json:"permissions,omitempty"`
	// TokenExpires is the RFC 3339 expiry GET /v1/auth/status reports; empty
	// means null (a token that does not expire).
	TokenExpires string `json:"tokenExpires,omitempty"`
}

// Image is one image manifest and its scan result.
type Image struct {
	// Digest is the manifest digest, "sha256:" + 64 lowercase hex. It is the
	// image's id in Central and the primary lookup key.
	Digest string `json:"digest"`
	// Names are references the image is also known by, e.g.
	// "quay.io/org/model-server:1.2". A scan or check by name (no digest)
	// finds the image through them. Docker Hub short names are normalised the
	// way Central does ("nginx" is "docker.io/library/nginx:latest").
	Names []string `json:"names,omitempty"`
	// OperatingSystem is scan.operatingSystem, e.g. "rhel:9". Default
	// "unknown" when ScanNotes has OS_UNAVAILABLE, else "rhel:9".
	OperatingSystem string `json:"operatingSystem,omitempty"`
	// Scanner picks scan.dataSource: "v4" (Scanner V4, default) or
	// "stackrox" (the deprecated StackRox Scanner).
	Scanner string `json:"scanner,omitempty"`
	// User is metadata.v1.user, the image's USER (quote numbers: "0").
	User string `json:"user,omitempty"`
	// Signature is the status of one signatureVerificationData result, e.g.
	// VERIFIED or FAILED_VERIFICATION. Empty means signatureVerificationData
	// is null.
	Signature string `json:"signature,omitempty"`
	// ScanNotes are scan.notes, e.g. [OS_UNAVAILABLE, PARTIAL_SCAN_DATA].
	ScanNotes []string `json:"scanNotes,omitempty"`
	// NoScanData makes the image unscannable: POST /v1/images/scan answers
	// Central's 500 "scan could not be completed", and POST /v1/detect/build
	// evaluates it with no CVEs and passes CVE policies (Central's trap).
	NoScanData bool `json:"noScanData,omitempty"`
	// Components are scan.components.
	Components []Component `json:"components,omitempty"`
}

// Component is one package found in the image.
type Component struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Source is OS (default), PYTHON, JAVA, RUBY, NODEJS, GO,
	// DOTNETCORERUNTIME or INFRASTRUCTURE.
	Source string `json:"source,omitempty"`
	// Location is the file path of a language package.
	Location   string `json:"location,omitempty"`
	LayerIndex int    `json:"layerIndex,omitempty"`
	CVEs       []CVE  `json:"cves,omitempty"`
}

// CVE is one vulnerability of a component.
type CVE struct {
	ID string `json:"id"`
	// CVSS is the score, 0 to 10.
	CVSS float64 `json:"cvss"`
	// Severity is Central's rating: LOW, MODERATE, IMPORTANT or CRITICAL, or
	// UNKNOWN (Central had no rating for it).
	Severity string `json:"severity"`
	// FixedBy is the fixing version. Leave it out for "no fix" (the key is
	// then absent from the response); `fixedBy: ""` is also "no fix" but is
	// sent as "". Central does both; clients must treat both as unfixable.
	FixedBy *string `json:"fixedBy,omitempty"`
	Link    string  `json:"link,omitempty"`
	Summary string  `json:"summary,omitempty"`
	// Advisory is e.g. "RHSA-2024:9333"; empty means advisory is null.
	Advisory string `json:"advisory,omitempty"`
	// Snoozed marks a deferred CVE: hidden from scans unless the request sets
	// includeSnoozed, and never seen by policies (as in Central).
	Snoozed bool `json:"snoozed,omitempty"`
}

// Policy is one build- or deploy-time policy.
type Policy struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Rationale   string `json:"rationale,omitempty"`
	Remediation string `json:"remediation,omitempty"`
	// Severity is LOW, MEDIUM, HIGH or CRITICAL.
	Severity   string   `json:"severity"`
	Categories []string `json:"categories,omitempty"`
	// Enforcement is one action or a list. Build policies may use
	// FAIL_BUILD_ENFORCEMENT; deploy policies SCALE_TO_ZERO_ENFORCEMENT,
	// UNSATISFIABLE_NODE_CONSTRAINT_ENFORCEMENT, FAIL_KUBE_REQUEST_ENFORCEMENT,
	// FAIL_DEPLOYMENT_CREATE_ENFORCEMENT or FAIL_DEPLOYMENT_UPDATE_ENFORCEMENT.
	// Empty or "none" means inform only.
	Enforcement Actions `json:"enforcement,omitempty"`
	// Disabled policies are never evaluated.
	Disabled bool `json:"disabled,omitempty"`
	// Match is the rule; every condition set in it must hold.
	Match Rule `json:"match"`
}

// Actions is a list of enforcement actions that YAML may also write as a
// single string, so the common one-action case reads naturally.
type Actions []string

// UnmarshalJSON accepts "X", ["X", "Y"], "none" or null.
func (a *Actions) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = nil
		if one != "" && !strings.EqualFold(one, "none") {
			*a = Actions{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("enforcement must be a string or a list of strings")
	}
	*a = Actions(many)
	return nil
}

// Load reads and validates a data file.
func Load(path string) (Data, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Data{}, fmt.Errorf("acsemulator: %w", err)
	}
	d, err := Parse(b)
	if err != nil {
		return Data{}, fmt.Errorf("acsemulator: %s: %w", path, err)
	}
	return d, nil
}

// Parse decodes and validates YAML (or JSON) data. Unknown keys are errors so
// that a typo cannot silently turn a policy into one that never matches.
func Parse(b []byte) (Data, error) {
	var d Data
	if err := yaml.UnmarshalStrict(b, &d); err != nil {
		return Data{}, err
	}
	if err := d.Validate(); err != nil {
		return Data{}, err
	}
	return d, nil
}

// clone deep-copies validated data through its JSON form, so that a caller
// changing its Data after New cannot race with requests.
func (d Data) clone() Data {
	b, err := json.Marshal(d)
	if err != nil {
		panic("acsemulator: copying data: " + err.Error())
	}
	var c Data
	if err := json.Unmarshal(b, &c); err != nil {
		panic("acsemulator: copying data: " + err.Error())
	}
	return c
}

// The enum sets below are Central's names (proto/storage/*.proto) for the
// values the data file may use.
var (
	cveSeverities = []string{"UNKNOWN", "LOW", "MODERATE", "IMPORTANT", "CRITICAL"}
	policySevs    = []string{"LOW", "MEDIUM", "HIGH", "CRITICAL"}
	scanNoteNames = []string{"OS_UNAVAILABLE", "PARTIAL_SCAN_DATA", "OS_CVES_UNAVAILABLE",
		"OS_CVES_STALE", "LANGUAGE_CVES_UNAVAILABLE", "CERTIFIED_RHEL_SCAN_UNAVAILABLE"}
	sourceNames = []string{"OS", "PYTHON", "JAVA", "RUBY", "NODEJS", "GO",
		"DOTNETCORERUNTIME", "INFRASTRUCTURE"}
	signatureStatuses = []string{"VERIFIED", "FAILED_VERIFICATION", "INVALID_SIGNATURE_ALGO",
		"CORRUPTED_SIGNATURE", "GENERIC_ERROR"}
	accessLevels  = []string{"NO_ACCESS", "READ_ACCESS", "READ_WRITE_ACCESS"}
	buildActions  = []string{"FAIL_BUILD_ENFORCEMENT"}
	deployActions = []string{"SCALE_TO_ZERO_ENFORCEMENT", "UNSATISFIABLE_NODE_CONSTRAINT_ENFORCEMENT",
		"FAIL_KUBE_REQUEST_ENFORCEMENT", "FAIL_DEPLOYMENT_CREATE_ENFORCEMENT",
		"FAIL_DEPLOYMENT_UPDATE_ENFORCEMENT"}
)

// Validate checks the data and returns the first problem, naming the field by
// its path in the file (e.g. "images[2].components[0].cves[1].severity").
func (d Data) Validate() error {
	if err := d.Central.validate(); err != nil {
		return err
	}
	digests := map[string]string{}
	names := map[string]string{}
	for i, img := range d.Images {
		p := fmt.Sprintf("images[%d]", i)
		if err := img.validate(p); err != nil {
			return err
		}
		if prev, dup := digests[img.Digest]; dup {
			return fmt.Errorf("%s.digest: %s is already used by %s", p, img.Digest, prev)
		}
		digests[img.Digest] = p
		for j, n := range img.Names {
			key := mustParseName(n).key()
			if prev, dup := names[key]; dup {
				return fmt.Errorf("%s.names[%d]: %q is already a name of %s", p, j, n, prev)
			}
			names[key] = p
		}
	}
	seen := map[string]string{}
	for _, set := range []struct {
		field   string
		list    []Policy
		actions []string
		deploy  bool
	}{{"buildPolicies", d.BuildPolicies, buildActions, false}, {"deployPolicies", d.DeployPolicies, deployActions, true}} {
		for i, pol := range set.list {
			p := fmt.Sprintf("%s[%d]", set.field, i)
			if err := pol.validate(p, set.actions, set.deploy); err != nil {
				return err
			}
			// Policy names are unique in Central across lifecycles.
			if prev, dup := seen[pol.Name]; dup {
				return fmt.Errorf("%s.name: %q is already used by %s", p, pol.Name, prev)
			}
			seen[pol.Name] = p
		}
	}
	return nil
}

func (c Central) validate() error {
	for _, res := range sortedKeys(c.Permissions) {
		if err := oneOf("central.permissions."+res, c.Permissions[res], accessLevels); err != nil {
			return err
		}
	}
	if c.TokenExpires != "" {
		if _, err := parseTime(c.TokenExpires); err != nil {
			return fmt.Errorf("central.tokenExpires: %q is not an RFC 3339 time", c.TokenExpires)
		}
	}
	return nil
}

func (img Image) validate(p string) error {
	if !isDigest(img.Digest) {
		return fmt.Errorf("%s.digest: %q is not a digest (want sha256: followed by 64 lowercase hex characters)", p, img.Digest)
	}
	for j, n := range img.Names {
		ref, err := parseImageName(n)
		if err != nil {
			return fmt.Errorf("%s.names[%d]: %v", p, j, err)
		}
		if ref.Digest != "" && ref.Digest != img.Digest {
			return fmt.Errorf("%s.names[%d]: %q names digest %s, not the image's %s", p, j, n, ref.Digest, img.Digest)
		}
	}
	if img.Scanner != "" && img.Scanner != "v4" && img.Scanner != "stackrox" {
		return fmt.Errorf("%s.scanner: unknown scanner %q (want v4 or stackrox)", p, img.Scanner)
	}
	if img.Signature != "" {
		if err := oneOf(p+".signature", img.Signature, signatureStatuses); err != nil {
			return err
		}
	}
	for j, n := range img.ScanNotes {
		if err := oneOf(fmt.Sprintf("%s.scanNotes[%d]", p, j), n, scanNoteNames); err != nil {
			return err
		}
	}
	if img.NoScanData && (len(img.Components) > 0 || len(img.ScanNotes) > 0) {
		return fmt.Errorf("%s.noScanData: an image without scan data cannot have components or scanNotes", p)
	}
	for j, c := range img.Components {
		cp := fmt.Sprintf("%s.components[%d]", p, j)
		if c.Name == "" {
			return fmt.Errorf("%s.name: required", cp)
		}
		if c.Source != "" {
			if err := oneOf(cp+".source", c.Source, sourceNames); err != nil {
				return err
			}
		}
		for k, v := range c.CVEs {
			vp := fmt.Sprintf("%s.cves[%d]", cp, k)
			if v.ID == "" {
				return fmt.Errorf("%s.id: required", vp)
			}
			if err := oneOf(vp+".severity", v.Severity, cveSeverities); err != nil {
				return err
			}
			if v.CVSS < 0 || v.CVSS > 10 {
				return fmt.Errorf("%s.cvss: %v is outside 0..10", vp, v.CVSS)
			}
		}
	}
	return nil
}

func (pol Policy) validate(p string, actions []string, deploy bool) error {
	if strings.TrimSpace(pol.Name) == "" {
		return fmt.Errorf("%s.name: required", p)
	}
	if err := oneOf(p+".severity", pol.Severity, policySevs); err != nil {
		return err
	}
	for i, a := range pol.Enforcement {
		if err := oneOf(fmt.Sprintf("%s.enforcement[%d]", p, i), a, actions); err != nil {
			return err
		}
	}
	return pol.Match.validate(p+".match", deploy)
}

// oneOf reports an error naming field when v is not in allowed.
func oneOf(field, v string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s: unknown value %q (want one of %s)", field, v, strings.Join(allowed, ", "))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isDigest accepts only sha256 digests in canonical lowercase form, which is
// what Central stores as an image id.
func isDigest(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
