package gate

import (
	"fmt"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/imageref"
)

// ReasonDigestMismatch: Central's answer is about another image than the
// one asked for.
const ReasonDigestMismatch = "ScanDigestMismatch"

// scannedDigest returns the digest Central's answer is about: the
// platform manifest it resolved when there is one, else the image id.
func scannedDigest(img *acs.Image) string {
	if img.Metadata != nil && img.Metadata.V2 != nil && img.Metadata.V2.Digest != "" {
		return img.Metadata.V2.Digest
	}
	return img.ID
}

// bindScan checks that Central's answer is about the image asked for, so
// a scan of another digest (a cache keyed by tag, a confused or hostile
// Central) never passes the gate for this one. Central's id is the
// requested manifest digest; for a multi-arch index it scans the one
// platform manifest it resolves, whose digest then differs — accepted only
// when the caller says the image is an index (acceptIndex), and named in
// the results either way. A reference without a digest (allow-tag) binds
// to nothing: the caller chose that.
func bindScan(img *acs.Image, requested string, acceptIndex bool) (Verdict, bool) {
	want, err := imageref.Digest(requested)
	if err != nil {
		return Verdict{}, true
	}
	scanned := scannedDigest(img)
	switch {
	case img.ID != want:
		return Verdict{Outcome: Fail, Reason: ReasonDigestMismatch, Message: fmt.Sprintf(
			"Central answered for image %s, not the %s asked for; the scan cannot vouch for it", short(img.ID), want)}, false
	case scanned != want && !acceptIndex:
		return Verdict{Outcome: Fail, Reason: ReasonDigestMismatch, Message: fmt.Sprintf(
			"Central scanned the platform manifest %s of %s, not the digest itself (set accept-index if %s is a multi-arch index)", short(scanned), want, want)}, false
	}
	return Verdict{}, true
}
