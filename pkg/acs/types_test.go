package acs

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Every API fixture decodes into its type with the fields a gate reads.
func TestDecodeFixtures(t *testing.T) {
	t.Run("scan-clean-image", func(t *testing.T) {
		img := decodeImageFixture(t, "scan-clean-image.json")
		if img.ID != "sha256:7a76fabd5156c138e5a4921ba468b32c8fee33b4360b3fd6c3899117d95ebea5" {
			t.Errorf("ID = %q", img.ID)
		}
		// acs.md §7 trap 6/7: name:tag@digest keeps both parts.
		if img.Name.Tag != "1.4.0" || !strings.Contains(img.Name.FullName, "@sha256:") {
			t.Errorf("Name = %+v", img.Name)
		}
		if img.Metadata == nil || img.Metadata.V2 == nil || img.Metadata.V2.Digest != img.ID {
			t.Errorf("metadata = %+v", img.Metadata)
		}
		s := img.Scan
		if s == nil || len(s.Components) != 3 || s.OperatingSystem != "rhel:9" || len(s.Notes) != 0 {
			t.Fatalf("scan = %+v", s)
		}
		if s.Components[2].Name == "" || s.Components[2].Version == "" {
			t.Errorf("numpy = %+v", s.Components[2])
		}
		if img.RetainedBytes() <= 0 || img.RetainedBytes() > 4096 {
			t.Errorf("retained = %d bytes", img.RetainedBytes())
		}
	})

	t.Run("scan-critical-cves-fixable-and-unfixable", func(t *testing.T) {
		img := decodeImageFixture(t, "scan-critical-cves-fixable-and-unfixable.json")
		vulns := map[string]Vulnerability{}
		for _, c := range img.Scan.Components {
			for _, v := range c.Vulns {
				vulns[v.CVE] = v
			}
		}
		if len(vulns) != 4 {
			t.Fatalf("vulns = %d", len(vulns))
		}
		ssl := vulns["CVE-2024-5535"]
		if ssl.Severity != VulnSeverityCritical || ssl.FixedBy != "1:3.2.2-6.el9_5" || ssl.CVSS != 9.1 || ssl.Link == "" {
			t.Errorf("openssl vuln = %+v", ssl)
		}
		// The README: fixedBy absent and fixedBy "" both mean unfixable.
		if v := vulns["CVE-2026-0915"]; v.FixedBy != "" || v.Severity != VulnSeverityImportant {
			t.Errorf("glibc (no fixedBy key) = %+v", v)
		}
		if v := vulns["CVE-2025-4802"]; v.FixedBy != "" || v.Severity != VulnSeverityModerate {
			t.Errorf("glibc (fixedBy \"\") = %+v", v)
		}
		if v := vulns["CVE-2025-32434"]; v.Suppressed {
			t.Errorf("torch = %+v", v)
		}
		// Trap 9: record which scanner answered.
		if ds := img.Scan.DataSource; ds == nil || ds.ID != ScannerV4ID || img.Scan.ScannerVersion != "4.8.3" {
			t.Errorf("dataSource = %+v", ds)
		}
		// Trap 7: manifest digest and the resolved platform digest.
		if img.Metadata.V2.Digest != img.ID {
			t.Errorf("v2 digest %q vs id %q", img.Metadata.V2.Digest, img.ID)
		}
	})

	t.Run("detect-build-fail-build-violation", func(t *testing.T) {
		var r BuildDetectionResponse
		mustDecode(t, "detect-build-fail-build-violation.json", &r)
		if len(r.Alerts) != 2 {
			t.Fatalf("alerts = %d", len(r.Alerts))
		}
		a := r.Alerts[0]
		if a.Policy.Name != "Fixable Severity at least Important" || a.Policy.Severity != PolicySeverityHigh ||
			!slices.Contains(a.Policy.EnforcementActions, EnforcementFailBuild) ||
			!slices.Equal(a.Policy.Categories, []string{"Vulnerability Management"}) {
			t.Errorf("policy = %+v", a.Policy)
		}
		if a.Enforcement != nil || a.LifecycleStage != StageBuild || a.State != AlertActive {
			t.Errorf("build alert enforcement/stage/state = %v %q %q", a.Enforcement, a.LifecycleStage, a.State)
		}
		if len(a.Violations) != 2 || !strings.Contains(a.Violations[1].Message, "CVE-2025-32434") {
			t.Errorf("violations = %+v", a.Violations)
		}
		if a.Image == nil || a.Image.Name.FullName != "quay.io/acme-ml/llm-gateway:0.9.2" || a.Deployment != nil {
			t.Errorf("entity = %+v / %+v", a.Image, a.Deployment)
		}
		if got := a.Policy.PolicySections[0].PolicyGroups[1].Values[0].Value; got != ">= IMPORTANT" {
			t.Errorf("policy value = %q", got)
		}
		if len(r.Alerts[1].Policy.EnforcementActions) != 0 {
			t.Errorf("inform-only policy has actions %v", r.Alerts[1].Policy.EnforcementActions)
		}
	})

	t.Run("detect-build-clean", func(t *testing.T) {
		var r BuildDetectionResponse
		mustDecode(t, "detect-build-clean.json", &r)
		if r.Alerts == nil || len(r.Alerts) != 0 {
			t.Errorf("alerts = %#v", r.Alerts)
		}
	})

	t.Run("detect-deploy-yaml-violation", func(t *testing.T) {
		var r DeployDetectionResponse
		mustDecode(t, "detect-deploy-yaml-violation.json", &r)
		if len(r.Runs) != 1 || r.Runs[0].Type != "Deployment" || len(r.Runs[0].Alerts) != 1 {
			t.Fatalf("runs = %+v", r.Runs)
		}
		a := r.Runs[0].Alerts[0]
		if a.Enforcement == nil || a.Enforcement.Action != EnforcementScaleToZero {
			t.Errorf("enforcement = %+v", a.Enforcement)
		}
		if !slices.Contains(a.Policy.EnforcementActions, EnforcementFailDeploymentCreate) {
			t.Errorf("actions = %v", a.Policy.EnforcementActions)
		}
		if a.Deployment == nil || a.Deployment.Namespace != "ml-serving" || a.Deployment.Containers[0].Image.ID == "" {
			t.Errorf("deployment = %+v", a.Deployment)
		}
		if len(r.IgnoredObjectRefs) != 1 || !strings.Contains(r.IgnoredObjectRefs[0], "Kind=InferenceService") {
			t.Errorf("ignored = %v", r.IgnoredObjectRefs)
		}
		if len(r.Remarks) != 1 || len(r.Remarks[0].AppliedNetworkPolicies) != 2 {
			t.Errorf("remarks = %+v", r.Remarks)
		}
	})

	t.Run("ping-ok", func(t *testing.T) {
		var p PingResponse
		mustDecode(t, "ping-ok.json", &p)
		if p.Status != "ok" {
			t.Errorf("status = %q", p.Status)
		}
	})

	t.Run("metadata-authenticated", func(t *testing.T) {
		var m Metadata
		mustDecode(t, "metadata-authenticated.json", &m)
		if m.Version != "4.8.3" || !m.ReleaseBuild || m.LicenseStatus != "VALID" {
			t.Errorf("metadata = %+v", m)
		}
	})

	for _, name := range []string{
		"error-400-invalid-image-name.json", "error-401-unauthenticated.json",
		"error-404-image-not-found.json", "scan-error-500-missing-scan-data.json",
	} {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			var e ErrorBody
			mustDecode(t, name, &e)
			if e.Code == 0 || e.Message == "" || e.Message != e.Error || e.Details == nil {
				t.Errorf("error body = %+v", e)
			}
		})
	}
}

func decodeImageFixture(t *testing.T, name string) *Image {
	t.Helper()
	img, err := DecodeImage(bytes.NewReader(fixture(t, name)))
	if err != nil {
		t.Fatalf("DecodeImage(%s): %v", name, err)
	}
	// The streaming decoder must agree with plain encoding/json.
	var want Image
	if err := json.Unmarshal(fixture(t, name), &want); err != nil {
		t.Fatal(err)
	}
	got := *img
	got.retained = 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeImage(%s) differs from json.Unmarshal", name)
	}
	return img
}

func mustDecode(t *testing.T, name string, v any) {
	t.Helper()
	if err := decodeJSON(bytes.NewReader(fixture(t, name)), v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

// grpc-gateway writes int64 as strings; other encoders write numbers.
func TestInt64DecodesStringAndNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{`"42"`, 42, false},
		{`42`, 42, false},
		{`"-9223372036854775808"`, -9223372036854775808, false},
		{`null`, 7, false}, // null leaves the value alone
		{`"4.2"`, 0, true},
		{`4.2`, 0, true},
		{`"9223372036854775808"`, 0, true},
		{`true`, 0, true},
		{`""`, 0, true},
	} {
		n := Int64(7)
		err := json.Unmarshal([]byte(tc.in), &n)
		if tc.err != (err != nil) || !tc.err && int64(n) != tc.want {
			t.Errorf("Int64 %s: got %d, %v", tc.in, n, err)
		}
	}
	var u Uint64
	if err := json.Unmarshal([]byte(`"18446744073709551615"`), &u); err != nil || u != 18446744073709551615 {
		t.Errorf("Uint64 max: %d, %v", u, err)
	}
	if err := json.Unmarshal([]byte(`"-1"`), &u); err == nil {
		t.Error("Uint64 accepted -1")
	}
	// And they encode back in Central's form.
	b, _ := json.Marshal(struct {
		A Int64  `json:"a"`
		B Uint64 `json:"b"`
	}{-5, 9120846712201838510})
	if string(b) != `{"a":"-5","b":"9120846712201838510"}` {
		t.Errorf("marshal = %s", b)
	}
	// A serial written as a number by another encoder still decodes, by
	// the bounded decoder too.
	var c ServiceIdentity
	if err := decodeJSON(strings.NewReader(`{"serial": 12}`), &c); err != nil || c.Serial != 12 {
		t.Errorf("serial number: %d, %v", c.Serial, err)
	}
}

// acs.md §7 trap 2: a 200 whose scan notes say the scan is partial must
// reach the caller with the notes intact (no fixture exists; built from the
// spec). The image-level MISSING_SCAN_DATA note and a null scan, too.
func TestPartialScanDataIsPresent(t *testing.T) {
	body := `{"id":"sha256:` + strings.Repeat("ab", 32) + `","name":null,
	  "scan":{"scannerVersion":"4.8.3","operatingSystem":"unknown","components":[],
	          "dataSource":{"id":"` + StackRoxScannerID + `","name":"Stackrox Scanner"},
	          "notes":["OS_UNAVAILABLE","PARTIAL_SCAN_DATA","LANGUAGE_CVES_UNAVAILABLE"]},
	  "notes":["MISSING_SIGNATURE"]}`
	img, err := DecodeImage(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []ScanNote{ScanNoteOSUnavailable, ScanNotePartialScanData, ScanNoteLanguageCVEsUnavailable}
	if !slices.Equal(img.Scan.Notes, want) || img.Scan.OperatingSystem != "unknown" {
		t.Errorf("scan notes = %v", img.Scan.Notes)
	}
	if !slices.Equal(img.Notes, []ImageNote{ImageNoteMissingSignature}) {
		t.Errorf("image notes = %v", img.Notes)
	}

	img, err = DecodeImage(strings.NewReader(`{"id":"sha256:x","scan":null,"notes":["MISSING_SCAN_DATA"]}`))
	if err != nil || img.Scan != nil || img.Notes[0] != ImageNoteMissingScanData {
		t.Errorf("null scan: %+v, %v", img, err)
	}
}

// Unknown fields (a newer Central) and unknown enum values are tolerated.
func TestUnknownFieldsAndEnumsTolerated(t *testing.T) {
	body := `{"id":"sha256:x","brandNewField":{"a":[1,2,{"b":null}]},
	  "scan":{"futureScanField":"x","components":[{"name":"c","futureComponentField":[1],
	    "vulns":[{"cve":"CVE-1","severity":"CATASTROPHIC_VULNERABILITY_SEVERITY","exploit":{"x":1}}]}]}}`
	img, err := DecodeImage(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Scan.Components[0].Vulns[0].Severity; got != "CATASTROPHIC_VULNERABILITY_SEVERITY" {
		t.Errorf("severity = %q", got)
	}
}

// The auth status decoder never keeps the IdP token Central may include.
func TestAuthStatusDropsIdPToken(t *testing.T) {
	body := `{"userId":"u1","expires":"2026-10-01T00:00:00Z","idpToken":"IDP-SECRET",
	  "authProvider":{"id":"p","name":"OIDC","type":"oidc","config":{"client_secret":"CS"}},
	  "userInfo":{"username":"ci","permissions":{"resourceToAccess":{"Image":"READ_WRITE_ACCESS"}},
	    "roles":[{"name":"Continuous Integration","resourceToAccess":{"Detection":"READ_ACCESS"}}]}}`
	var a AuthStatus
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	if a.Expires == nil || a.UserInfo.Permissions.ResourceToAccess["Image"] != ReadWriteAccess ||
		a.UserInfo.Roles[0].ResourceToAccess["Detection"] != ReadAccess {
		t.Errorf("auth status = %+v", a)
	}
	out, _ := json.Marshal(a)
	if bytes.Contains(out, []byte("SECRET")) || bytes.Contains(out, []byte("CS")) {
		t.Errorf("secrets survived decoding: %s", out)
	}
}
