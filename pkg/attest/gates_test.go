package attest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/gate"
)

// A scan report signed through AttestScan is what VerifyImage's scan
// check reads: a pass within the age passes, a fail says ScanFailed.
func TestAttestScanIsWhatVerifyReads(t *testing.T) {
	ctx := context.Background()
	host := startRegistry(t)
	k := generate(t)
	s := k.signer(t)
	for _, c := range []struct {
		outcome gate.Outcome
		want    string
	}{{gate.Pass, ""}, {gate.Fail, ReasonScanFailed}} {
		img := pushImage(t, host, "models/scan-"+string(c.outcome)).String()
		r := gate.ScanReport{Image: img, ScannerVersion: "4.7.0", DataSource: "Scanner V4",
			Findings: []gate.Finding{{CVE: "CVE-2024-1", Sev: "IMPORTANT", Component: "openssl", Version: "3.0"}},
			Blocking: []gate.Finding{{CVE: "CVE-2024-1", Sev: "IMPORTANT", Component: "openssl", Version: "3.0"}},
			Verdict:  gate.Verdict{Outcome: c.outcome, Reason: "VulnerabilitiesFound", Message: "m"}}
		if _, err := s.AttestScan(ctx, r, time.Now(), time.Now(), Invocation{URI: "test"}, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		rep, err := VerifyImage(ctx, ImagePolicy{Image: img, Key: generate(t).public, AttestorKey: k.public, MaxScanAge: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		var scan ImageCheck
		for _, ch := range rep.Checks {
			if ch.Name == CheckScan {
				scan = ch
			}
		}
		if scan.Reason != c.want || scan.Pass != (c.want == "") {
			t.Errorf("%s scan: %+v", c.outcome, scan)
		}
		atts, err := Attestations(ctx, img, VerifyOptions{PublicKey: k.public})
		if err != nil || len(atts) != 1 || !strings.Contains(string(atts[0].Predicate), `"blocking":true`) {
			t.Errorf("the statement lacks the blocking CVE: %v %v", atts, err)
		}
	}
	// A gate that could not check decided nothing: nothing is signed.
	img := pushImage(t, host, "models/undecided").String()
	_, err := s.AttestScan(ctx, gate.ScanReport{Image: img, Verdict: gate.Verdict{Outcome: gate.Error}}, time.Now(), time.Now(), Invocation{}, WriteOptions{})
	if !Undecided(err) {
		t.Errorf("an undecided scan: %v", err)
	}
}

func TestSealed(t *testing.T) {
	pass := gate.Verdict{Outcome: gate.Pass, Message: "ok"}
	fail := gate.Verdict{Outcome: gate.Fail, Reason: "PolicyFailsBuild", Message: "no"}
	boom := errors.New("registry down")
	if v := Sealed(pass, nil); v != pass {
		t.Errorf("signed pass: %+v", v)
	}
	if v := Sealed(pass, boom); v.Outcome != gate.Error || v.Reason != ReasonAttestation || !strings.Contains(v.Message, "registry down") {
		t.Errorf("a pass that could not be signed: %+v", v)
	}
	if v := Sealed(fail, boom); v.Outcome != gate.Fail || v.Reason != "PolicyFailsBuild" || !strings.Contains(v.Message, "could not be attested") {
		t.Errorf("a fail that could not be signed: %+v", v)
	}
}
