package acsemulator

import (
	"reflect"
	"testing"
)

func scan(t *testing.T, s *Server, name string, includeSnoozed bool) response {
	t.Helper()
	return call(t, s, "POST", "/v1/images/scan", testToken,
		map[string]any{"imageName": name, "includeSnoozed": includeSnoozed, "force": true})
}

func TestScanCleanImageMatchesFixture(t *testing.T) {
	s := startExample(t)
	r := scan(t, s, cleanImageName, false)
	if r.status != 200 {
		t.Fatalf("scan = %d %s", r.status, r.raw)
	}
	got, want := r.json(t), fixture(t, "scan-clean-image.json")
	assertShape(t, "scan-clean-image.json", got)
	for _, path := range [][]any{
		{"id"}, {"name"}, {"components"}, {"cves"}, {"fixableCves"}, {"topCvss"}, {"scan", "notes"},
		{"scan", "operatingSystem"}, {"scan", "dataSource"}, {"metadata", "v2"}, {"metadata", "v1", "user"},
		{"scan", "components", 2, "source"}, {"scan", "components", 2, "layerIndex"}, {"priority"},
	} {
		if g, w := dig(t, got, path...), dig(t, want, path...); !reflect.DeepEqual(g, w) {
			t.Errorf("%v = %v, fixture has %v", path, g, w)
		}
	}
	// int64/uint64 travel as strings on Central's gateway.
	for _, path := range [][]any{{"priority"}, {"metadata", "version"}, {"scan", "hash"}, {"scan", "components", 0, "priority"}} {
		if _, ok := dig(t, got, path...).(string); !ok {
			t.Errorf("%v is not a string", path)
		}
	}
}

// vulnFacts keys every CVE by id to what a client gates on: severity and the
// three states of fixedBy (absent, "", a version).
func vulnFacts(t *testing.T, img any) map[string][2]any {
	t.Helper()
	facts := map[string][2]any{}
	for _, c := range dig(t, img, "scan", "components").([]any) {
		for _, v := range c.(map[string]any)["vulns"].([]any) {
			vm := v.(map[string]any)
			fixed, ok := vm["fixedBy"]
			if !ok {
				fixed = "<absent>"
			}
			facts[vm["cve"].(string)] = [2]any{vm["severity"], fixed}
		}
	}
	return facts
}

func TestScanCriticalFixableAndUnfixableMatchesFixture(t *testing.T) {
	s := startExample(t)
	r := scan(t, s, "quay.io/acme-ml/llm-gateway:0.9.2", false)
	if r.status != 200 {
		t.Fatalf("scan = %d %s", r.status, r.raw)
	}
	got, want := r.json(t), fixture(t, "scan-critical-cves-fixable-and-unfixable.json")
	assertShape(t, "scan-critical-cves-fixable-and-unfixable.json", got)
	if g, w := vulnFacts(t, got), vulnFacts(t, want); !reflect.DeepEqual(g, w) {
		t.Errorf("vulnerabilities = %v\nfixture has      %v", g, w)
	}
	for _, key := range []string{"id", "name", "components", "cves", "fixableCves", "topCvss"} {
		if g, w := dig(t, got, key), dig(t, want, key); !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %v, fixture has %v", key, g, w)
		}
	}
	if st := dig(t, got, "signatureVerificationData", "results", 0, "status"); st != "VERIFIED" {
		t.Errorf("signature status = %v", st)
	}
	if fb := dig(t, got, "scan", "components", 0, "fixedBy"); fb != "1:3.2.2-6.el9_5" {
		t.Errorf("component fixedBy = %v", fb)
	}
}

func TestScanWithoutScanDataIs500(t *testing.T) {
	s := startExample(t)
	r := scan(t, s, "quay.io/acme-ml/private-model:2.0.0", false)
	if r.status != 500 || !reflect.DeepEqual(r.json(t), fixture(t, "scan-error-500-missing-scan-data.json")) {
		t.Fatalf("scan = %d %s", r.status, r.raw)
	}
}

func TestScanInvalidNameIs400(t *testing.T) {
	s := startExample(t)
	r := scan(t, s, "quay.io/acme-ml/Sentiment:latest", false)
	if r.status != 400 || !reflect.DeepEqual(r.json(t), fixture(t, "error-400-invalid-image-name.json")) {
		t.Fatalf("scan = %d %s", r.status, r.raw)
	}
	for _, bad := range []string{"", "quay.io/x/y@sha256:abc", "quay.io/x/y:bad tag"} {
		if r := scan(t, s, bad, false); r.status != 400 || r.obj(t)["code"] != 3.0 {
			t.Errorf("scan %q = %d %s", bad, r.status, r.raw)
		}
	}
}

func TestUnknownImageIs404(t *testing.T) {
	s := startExample(t)
	r := call(t, s, "GET", "/v1/images/"+unknownDigest, testToken, nil)
	if r.status != 404 || !reflect.DeepEqual(r.json(t), fixture(t, "error-404-image-not-found.json")) {
		t.Fatalf("get image = %d %s", r.status, r.raw)
	}
	r = scan(t, s, "quay.io/acme-ml/nothing@"+unknownDigest, false)
	if r.status != 404 || !reflect.DeepEqual(r.json(t), fixture(t, "error-404-image-not-found.json")) {
		t.Errorf("scan unknown digest = %d %s", r.status, r.raw)
	}
	r = scan(t, s, "quay.io/acme-ml/nothing:1.0", false)
	if r.status != 404 {
		t.Errorf("scan unknown name = %d %s", r.status, r.raw)
	}
	assertShape(t, "error-404-image-not-found.json", r.json(t))
}

func TestGetImageByDigest(t *testing.T) {
	s := startExample(t)
	r := call(t, s, "GET", "/v1/images/"+gatewayDigest, testToken, nil)
	if r.status != 200 {
		t.Fatalf("get image = %d %s", r.status, r.raw)
	}
	assertShape(t, "scan-critical-cves-fixable-and-unfixable.json", r.json(t))
}

func TestScanPartialScanCarriesNotes(t *testing.T) {
	s := startExample(t)
	img := scan(t, s, "quay.io/acme-ml/distroless-runner:1.0.0", false).json(t)
	if notes := dig(t, img, "scan", "notes"); !reflect.DeepEqual(notes, []any{"OS_UNAVAILABLE", "PARTIAL_SCAN_DATA"}) {
		t.Errorf("notes = %v", notes)
	}
	if os := dig(t, img, "scan", "operatingSystem"); os != "unknown" {
		t.Errorf("operatingSystem = %v", os)
	}
	if cves := dig(t, img, "cves"); cves != 0.0 {
		t.Errorf("cves = %v (a partial scan should look clean, that is the trap)", cves)
	}
}

func TestScanNormalisesNamesAndHidesSnoozed(t *testing.T) {
	s := startExample(t)
	img := scan(t, s, "quay.io/acme-ml/tokenizer:0.4.1", false).json(t)
	if n := len(vulnFacts(t, img)); n != 2 {
		t.Errorf("without includeSnoozed: %d CVEs, want 2", n)
	}
	if ds := dig(t, img, "scan", "dataSource", "name"); ds != "Stackrox Scanner" {
		t.Errorf("dataSource = %v", ds)
	}
	img = scan(t, s, "quay.io/acme-ml/tokenizer:0.4.1", true).json(t)
	if n := len(vulnFacts(t, img)); n != 3 {
		t.Errorf("with includeSnoozed: %d CVEs, want 3", n)
	}
	if st := dig(t, img, "scan", "components", 1, "vulns", 1, "state"); st != "DEFERRED" {
		t.Errorf("snoozed state = %v", st)
	}
	// Name and tag plus a digest keeps both; the digest decides.
	img = scan(t, s, "quay.io/acme-ml/whatever:9@"+gatewayDigest, false).json(t)
	if dig(t, img, "id") != gatewayDigest || dig(t, img, "name", "tag") != "9" {
		t.Errorf("name = %v", dig(t, img, "name"))
	}
}

func TestParseImageName(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                            "docker.io/library/nginx:latest",
		"acme/model:1":                     "docker.io/acme/model:1",
		"localhost:5000/m":                 "localhost:5000/m:latest",
		"quay.io/a/b@" + cleanDigest:       "quay.io/a/b@" + cleanDigest,
		"quay.io/a/b:1.0@" + cleanDigest:   "quay.io/a/b:1.0@" + cleanDigest,
		"registry:5000/ns/x__y.z-w:v1_2.3": "registry:5000/ns/x__y.z-w:v1_2.3",
	} {
		ref, err := parseImageName(in)
		if err != nil || ref.fullName() != want {
			t.Errorf("parseImageName(%q) = %q, %v; want %q", in, ref.fullName(), err, want)
		}
	}
	for _, bad := range []string{"", "Quay.io/A/b", "quay.io/a/-b", "quay.io/a/b:", "quay.io//b", "quay.io/a/b@sha256:XYZ"} {
		if _, err := parseImageName(bad); err == nil {
			t.Errorf("parseImageName(%q) accepted", bad)
		}
	}
}

// An image the data file does not list is NotFound, unless the test says
// how such images scan; then it scans under its own digest and name.
func TestScanUnknownAs(t *testing.T) {
	s := startExample(t)
	const built = "127.0.0.1:5000/models/tiny@sha256:00000000000000000000000000000000000000000000000000000000000000aa"
	if r := scan(t, s, built, false); r.status != 404 {
		t.Fatalf("unknown image = %d, want 404", r.status)
	}
	s.ScanUnknownAs(&Image{User: "65532", Components: []Component{{Name: "busybox", Version: "1.37.0"}}})
	r := scan(t, s, built, false)
	if r.status != 200 {
		t.Fatalf("unknown image with ScanUnknownAs = %d %s", r.status, r.raw)
	}
	img := r.json(t)
	if got := dig(t, img, "id"); got != "sha256:00000000000000000000000000000000000000000000000000000000000000aa" {
		t.Errorf("id = %v", got)
	}
	if got := dig(t, img, "scan", "components", 0, "name"); got != "busybox" {
		t.Errorf("component = %v", got)
	}
	s.ScanUnknownAs(nil)
	if r := scan(t, s, built, false); r.status != 404 {
		t.Errorf("after ScanUnknownAs(nil) = %d, want 404", r.status)
	}
}
