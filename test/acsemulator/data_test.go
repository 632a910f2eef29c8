package acsemulator

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const goodImage = `
images:
  - digest: sha256:7a76fabd5156c138e5a4921ba468b32c8fee33b4360b3fd6c3899117d95ebea5
    names: [quay.io/acme/x:1]
    components:
      - name: openssl
        version: "3.0"
        cves: [{id: CVE-1, cvss: 9.8, severity: CRITICAL, fixedBy: "3.1"}]
`

func TestLoadRejectsBadFiles(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, wantField, wantText string }{
		"unknown CVE severity": {
			strings.Replace(goodImage, "severity: CRITICAL", "severity: SEVERE", 1),
			"images[0].components[0].cves[0].severity", `"SEVERE"`},
		"Central's full severity name": {
			strings.Replace(goodImage, "severity: CRITICAL", "severity: CRITICAL_VULNERABILITY_SEVERITY", 1),
			"images[0].components[0].cves[0].severity", "LOW, MODERATE, IMPORTANT, CRITICAL"},
		"bad digest": {
			strings.Replace(goodImage, "sha256:7a76", "sha256:ZZ76", 1), "images[0].digest", "64 lowercase hex"},
		"short digest": {
			"images: [{digest: sha256:abc}]", "images[0].digest", "sha256:abc"},
		"unknown policy rule": {
			"buildPolicies: [{name: p, severity: HIGH, match: {cveSeverityAbove: CRITICAL}}]",
			"buildPolicies[0].match", `unknown policy rule "cveSeverityAbove"`},
		"container rule in a build policy": {
			"buildPolicies: [{name: p, severity: HIGH, match: {privileged: true}}]",
			"buildPolicies[0].match", "only work in deployPolicies"},
		"false switch": {
			"deployPolicies: [{name: p, severity: HIGH, match: {privileged: false}}]",
			"deployPolicies[0].match", "only true is meaningful"},
		"empty rule": {
			"deployPolicies: [{name: p, severity: HIGH, match: {}}]", "deployPolicies[0].match", "at least one rule"},
		"unknown policy severity": {
			"buildPolicies: [{name: p, severity: IMPORTANT, match: {imageTagIs: latest}}]",
			"buildPolicies[0].severity", "LOW, MEDIUM, HIGH, CRITICAL"},
		"deploy enforcement on a build policy": {
			"buildPolicies: [{name: p, severity: LOW, enforcement: SCALE_TO_ZERO_ENFORCEMENT, match: {imageTagIs: latest}}]",
			"buildPolicies[0].enforcement[0]", "FAIL_BUILD_ENFORCEMENT"},
		"bad component regexp": {
			"buildPolicies: [{name: p, severity: LOW, match: {componentName: 'log4j('}}]",
			"buildPolicies[0].match.componentName", "missing closing )"},
		"rule severity": {
			"buildPolicies: [{name: p, severity: LOW, match: {cveSeverityAtLeast: HIGH}}]",
			"buildPolicies[0].match.cveSeverityAtLeast", `"HIGH"`},
		"duplicate policy name": {
			"buildPolicies: [{name: p, severity: LOW, match: {imageTagIs: latest}}]\n" +
				"deployPolicies: [{name: p, severity: LOW, match: {latestTag: true}}]",
			"deployPolicies[0].name", "buildPolicies[0]"},
		"unknown scan note": {
			strings.Replace(goodImage, "    components:", "    scanNotes: [PARTIAL]\n    components:", 1),
			"images[0].scanNotes[0]", "PARTIAL_SCAN_DATA"},
		"no scan data with components": {
			strings.Replace(goodImage, "    components:", "    noScanData: true\n    components:", 1),
			"images[0].noScanData", "cannot have components"},
		"upper-case name": {
			strings.Replace(goodImage, "quay.io/acme/x:1", "quay.io/Acme/x:1", 1), "images[0].names[0]", "must be lowercase"},
		"duplicate name": {
			goodImage + "  - {digest: sha256:190de6ac415911deabe8ce0b3541661a3aa7e2ac74d6fee3d6749debf17e75c1, names: ['quay.io/acme/x:1']}",
			"images[1].names[0]", "images[0]"},
		"typo in a field": {
			strings.Replace(goodImage, "    names:", "    nmaes:", 1), "", `unknown field "nmaes"`},
		"permission level": {
			"central: {permissions: {Image: WRITE}}", "central.permissions.Image", "READ_WRITE_ACCESS"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.wantField != "" && !strings.Contains(err.Error(), tc.wantField+":") {
				t.Errorf("error %q does not name the field %q", err, tc.wantField)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not mention %q", err, tc.wantText)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(p, []byte("images: [{digest: nope}]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), "images[0].digest") {
		t.Errorf("Load error = %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestParseEnforcementForms(t *testing.T) {
	d, err := Parse([]byte(`
buildPolicies:
  - {name: a, severity: LOW, enforcement: FAIL_BUILD_ENFORCEMENT, match: {imageTagIs: latest}}
  - {name: b, severity: LOW, enforcement: none, match: {imageTagIs: latest}}
  - {name: c, severity: LOW, match: {imageTagIs: latest}}
deployPolicies:
  - {name: d, severity: LOW, enforcement: [SCALE_TO_ZERO_ENFORCEMENT, FAIL_DEPLOYMENT_CREATE_ENFORCEMENT], match: {latestTag: true}}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := [][]string{d.BuildPolicies[0].Enforcement, d.BuildPolicies[1].Enforcement, d.BuildPolicies[2].Enforcement, d.DeployPolicies[0].Enforcement}
	want := [][]string{{"FAIL_BUILD_ENFORCEMENT"}, nil, nil, {"SCALE_TO_ZERO_ENFORCEMENT", "FAIL_DEPLOYMENT_CREATE_ENFORCEMENT"}}
	for i := range want {
		if len(got[i]) != len(want[i]) || len(want[i]) > 0 && !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("policy %d enforcement = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestExampleDataCoversTheScenarios(t *testing.T) {
	d := exampleData(t)
	var noScan, partial int
	for _, img := range d.Images {
		if img.NoScanData {
			noScan++
		}
		if contains(img.ScanNotes, "PARTIAL_SCAN_DATA") {
			partial++
		}
	}
	if noScan == 0 || partial == 0 || len(d.BuildPolicies) == 0 || len(d.DeployPolicies) < 2 {
		t.Errorf("example data lost a scenario: %d no-scan, %d partial, %d build and %d deploy policies",
			noScan, partial, len(d.BuildPolicies), len(d.DeployPolicies))
	}
}

func TestNewRefusesEmptyTokenAndBadData(t *testing.T) {
	for name, f := range map[string]func(){
		"empty token": func() { New(Data{}, " ") },
		"bad data":    func() { New(Data{Images: []Image{{Digest: "x"}}}, "t") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestShapeDiffCatchesDifferences(t *testing.T) {
	want := map[string]any{"a": "1", "b": map[string]any{"c": 1.0}, "n": nil}
	got := map[string]any{"a": 1.0, "b": map[string]any{"d": 1.0}, "n": "x"}
	d := shapeDiff("$", want, got)
	if len(d) != 3 {
		t.Errorf("shapeDiff = %v, want 3 differences (kind of a, b.c missing, b.d unexpected)", d)
	}
}
