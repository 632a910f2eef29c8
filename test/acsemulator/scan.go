package acsemulator

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// obj is a JSON object. Key order does not matter on Central's wire either.
type obj = map[string]any

// scanRequest is ScanImageRequest (proto/api/v1/image_service.proto).
// cluster and namespace are accepted and ignored: every "cluster" sees the
// same data.
type scanRequest struct {
	ImageName      string `json:"imageName"`
	Force          bool   `json:"force"`
	IncludeSnoozed bool   `json:"includeSnoozed"`
	Cluster        string `json:"cluster"`
	Namespace      string `json:"namespace"`
}

// Scanner data sources, as in Central's default image integrations.
var dataSources = map[string]obj{
	"v4":       {"id": "a87471e6-9678-4e66-8348-91e302b6de07", "name": "Scanner V4", "mirror": ""},
	"stackrox": {"id": "169b0d3f-8277-4900-bbce-1127077defae", "name": "Stackrox Scanner", "mirror": ""},
}

// scanImage is POST /v1/images/scan (ImageService.ScanImage).
func (e *Emulator) scanImage(w http.ResponseWriter, r *http.Request) {
	var req scanRequest
	if !decodeBody(w, r, &req) {
		return
	}
	ref, err := parseImageName(req.ImageName)
	if err != nil {
		writeError(w, codeInvalidArgument, badNameMessage(req.ImageName, err))
		return
	}
	img := e.lookup(ref)
	if img == nil {
		// Real Central would try the registry and fail with a 500; the
		// emulator's data is its whole world, so an unknown image is 404.
		writeError(w, codeNotFound, notFoundMessage(ref))
		return
	}
	if img.NoScanData {
		// pkg/images/enricher/util.go: enrichment ended without a scan; the
		// error has no class, so it becomes Internal / HTTP 500.
		writeError(w, codeInternal, fmt.Sprintf("scan could not be completed for image %s ([MISSING_SCAN_DATA]): "+
			"please check that an applicable registry and scanner is integrated", ref.fullName()))
		return
	}
	writeJSON(w, r, http.StatusOK, e.renderImage(ref, img, req.IncludeSnoozed))
}

// getImage is GET /v1/images/{id}: Central's stored image by digest.
func (e *Emulator) getImage(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/images/")
	img := e.byDigest[id]
	if img == nil || img.NoScanData {
		writeError(w, codeNotFound, fmt.Sprintf("image with id %q does not exist: not found", id))
		return
	}
	ref := imageRef{Digest: img.Digest}
	if len(img.Names) > 0 {
		ref = mustParseName(img.Names[0])
		ref.Digest = img.Digest
	}
	snoozed, _ := strconv.ParseBool(r.URL.Query().Get("includeSnoozed"))
	writeJSON(w, r, http.StatusOK, e.renderImage(ref, img, snoozed))
}

// lookup finds an image by digest if the reference has one (Central keys
// images by digest), else by its normalised name and tag.
func (e *Emulator) lookup(ref imageRef) *Image {
	var img *Image
	if ref.Digest != "" {
		img = e.byDigest[ref.Digest]
	} else {
		img = e.byName[ref.key()]
	}
	if img != nil || ref.Digest == "" {
		return img
	}
	// An image built during a test is not in the data file; if told so,
	// answer as Central would after pulling and scanning it.
	if like := e.unknown.Load(); like != nil {
		found := *like
		found.Digest, found.Names = ref.Digest, []string{ref.fullName()}
		return &found
	}
	return nil
}

func badNameMessage(name string, err error) string {
	return fmt.Sprintf("error parsing image name '%s': %v: invalid arguments", name, err)
}

func notFoundMessage(ref imageRef) string {
	if ref.Digest != "" {
		return fmt.Sprintf("image with id %q does not exist: not found", ref.Digest)
	}
	return fmt.Sprintf("image with name %q does not exist: not found", ref.fullName())
}

func nameObj(ref imageRef) obj {
	full := ""
	if ref.Remote != "" {
		full = ref.fullName()
	}
	return obj{"registry": ref.Registry, "remote": ref.Remote, "tag": ref.Tag, "fullName": full}
}

// renderImage is storage.Image as the gateway emits it. Values that the data
// file does not describe (layers, risk scores, timestamps) are plausible
// fillers; only the shape and the vulnerability facts are meant to be relied on.
func (e *Emulator) renderImage(ref imageRef, img *Image, includeSnoozed bool) obj {
	now := protoTime(time.Now().UTC())
	names := []obj{nameObj(ref)}
	for _, n := range img.Names {
		if other := mustParseName(n); other.key() != ref.key() {
			other.Digest = img.Digest
			names = append(names, nameObj(other))
		}
	}
	cves, fixable := map[string]bool{}, map[string]bool{}
	top := 0.0
	comps := []obj{}
	for _, c := range img.Components {
		vulns := []obj{}
		cTop, cFix := 0.0, ""
		for _, v := range c.CVEs {
			if v.Snoozed && !includeSnoozed {
				continue
			}
			vulns = append(vulns, e.renderVuln(c, v, now))
			cves[v.ID] = true
			if isFixable(v) {
				fixable[v.ID] = true
				if versionLess(cFix, *v.FixedBy) {
					cFix = *v.FixedBy
				}
			}
			cTop = math.Max(cTop, v.CVSS)
		}
		top = math.Max(top, cTop)
		source, arch := c.Source, ""
		if source == "" || source == "OS" {
			source, arch = "OS", "x86_64"
		}
		comp := obj{
			"name": c.Name, "version": c.Version, "license": nil, "vulns": vulns,
			"layerIndex": c.LayerIndex, "priority": "0", "source": source, "location": c.Location,
			"riskScore": round1(cTop / 4), "fixedBy": cFix, "executables": []any{}, "architecture": arch,
		}
		if len(vulns) > 0 {
			comp["topCvss"] = cTop // a oneof: absent when the component has no vulns
		}
		comps = append(comps, comp)
	}
	osName := img.OperatingSystem
	if osName == "" {
		osName = "rhel:9"
		if contains(img.ScanNotes, "OS_UNAVAILABLE") {
			osName = "unknown"
		}
	}
	scanner := img.Scanner
	if scanner == "" {
		scanner = "v4"
	}
	notes := append([]string{}, img.ScanNotes...)
	var sig any
	if img.Signature != "" {
		refs := []string{}
		if img.Signature == "VERIFIED" && ref.Remote != "" {
			refs = append(refs, ref.fullName())
		}
		sig = obj{"results": []obj{{
			"verificationTime": now, "verifierId": "io.stackrox.signatureintegration." + stableUUID("verifier", "cosign"),
			"status": img.Signature, "description": "", "verifiedImageReferences": refs, "verifierName": "acsemulator-cosign",
		}}}
	}
	return obj{
		"id": img.Digest, "name": nameObj(ref), "names": names,
		"metadata": obj{
			"v1": obj{"digest": "sha256:" + hexHash("config", img.Digest), "created": protoTime(e.started),
				"author": "", "layers": []any{}, "user": img.User, "command": []string{}, "entrypoint": []string{},
				"volumes": []string{}, "labels": map[string]string{}},
			"v2":        obj{"digest": img.Digest},
			"layerShas": []string{"sha256:" + hexHash("layer", img.Digest)},
			"dataSource": obj{"id": stableUUID("registry", ref.Registry),
				"name": ref.Registry + " (acsemulator)", "mirror": ""},
			"version": "3",
		},
		"scan": obj{
			"scannerVersion": e.central.Version, "scanTime": now, "components": comps,
			"operatingSystem": osName, "dataSource": dataSources[scanner], "notes": notes,
			"hash": strconv.FormatUint(binary.BigEndian.Uint64(sha256Sum("hash", img.Digest)), 10),
		},
		"signatureVerificationData": sig, "signature": nil,
		"components": len(comps), "cves": len(cves), "fixableCves": len(fixable),
		"lastUpdated": now, "notPullable": false, "isClusterLocal": false, "priority": "0",
		"riskScore": round1(1 + top*0.22), "topCvss": top, "notes": []string{}, "baseImageInfo": []any{},
	}
}

// renderVuln is storage.EmbeddedVulnerability. fixedBy is a oneof, so a CVE
// whose data has no fixedBy has no key at all.
func (e *Emulator) renderVuln(c Component, v CVE, now string) obj {
	link, origin := v.Link, "VULN_ORIGIN_RED_HAT"
	if c.Source != "" && c.Source != "OS" {
		origin = "VULN_ORIGIN_OSV"
	}
	if link == "" {
		link = "https://nvd.nist.gov/vuln/detail/" + v.ID
	}
	var advisory any
	if v.Advisory != "" {
		advisory = obj{"name": v.Advisory, "link": "https://access.redhat.com/errata/" + v.Advisory}
	}
	state, suppressed := "OBSERVED", any(nil)
	if v.Snoozed {
		state, suppressed = "DEFERRED", protoTime(e.started)
	}
	out := obj{
		"cve": v.ID, "advisory": advisory, "cvss": v.CVSS, "summary": v.Summary, "link": link,
		"scoreVersion": "V3", "cvssV2": nil, "cvssV3": nil, "publishedOn": nil, "lastModified": nil,
		"vulnerabilityType": "IMAGE_VULNERABILITY", "vulnerabilityTypes": []string{"IMAGE_VULNERABILITY"},
		"suppressed": v.Snoozed, "suppressActivation": suppressed, "suppressExpiry": nil,
		"firstSystemOccurrence": protoTime(e.started), "firstImageOccurrence": now, "fixAvailableTimestamp": nil,
		"severity": v.Severity + "_VULNERABILITY_SEVERITY", "state": state, "cvssMetrics": []any{},
		"nvdCvss": v.CVSS, "epss": nil, "datasource": "", "exploit": nil, "cisaKev": false, "origin": origin,
	}
	if v.FixedBy != nil {
		out["fixedBy"] = *v.FixedBy
	}
	return out
}

// versionLess compares versions by runs of digits and non-digits, enough to
// pick the highest fixedBy as a component's "fixes everything" version.
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		ra, restA := versionRun(a)
		rb, restB := versionRun(b)
		if ra != rb {
			na, errA := strconv.Atoi(ra)
			nb, errB := strconv.Atoi(rb)
			if errA == nil && errB == nil {
				return na < nb
			}
			return ra < rb
		}
		a, b = restA, restB
	}
	return len(a) < len(b)
}

func versionRun(s string) (string, string) {
	digit := s[0] >= '0' && s[0] <= '9'
	i := 1
	for i < len(s) && (s[i] >= '0' && s[i] <= '9') == digit {
		i++
	}
	return s[:i], s[i:]
}

// protoTime formats a timestamp as protojson does: RFC 3339 in UTC with 0, 3,
// 6 or 9 fractional digits.
func protoTime(t time.Time) string {
	t = t.UTC()
	ns := t.Nanosecond()
	switch {
	case ns == 0:
		return t.Format("2006-01-02T15:04:05Z")
	case ns%1e6 == 0:
		return t.Format("2006-01-02T15:04:05.000Z")
	case ns%1e3 == 0:
		return t.Format("2006-01-02T15:04:05.000000Z")
	}
	return t.Format("2006-01-02T15:04:05.000000000Z")
}

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func sha256Sum(kind, s string) []byte {
	sum := sha256.Sum256([]byte(kind + "\x00" + s))
	return sum[:]
}

// hexHash derives a stable made-up digest so that repeated scans agree.
func hexHash(kind, s string) string { return hex.EncodeToString(sha256Sum(kind, s)) }

// stableUUID derives a UUID (version 5 layout) from a name, for ids that
// Central keeps stable, such as policy ids.
func stableUUID(kind, s string) string { return formatUUID(sha256Sum(kind, s)[:16], 5) }

// newUUID is a random version 4 UUID, for ids Central mints per call (alerts).
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return formatUUID(b, 4)
}

func formatUUID(b []byte, version byte) string {
	b[6] = b[6]&0x0f | version<<4
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
