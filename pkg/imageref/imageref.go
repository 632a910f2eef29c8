// Package imageref tells an image reference pinned by digest from one that
// can move. A tag can be re-pushed under a gate's feet; a digest cannot, so
// every gate, build base, deploy and Task step image in modelguard is
// checked here, with one rule: repo@<algorithm>:<hex> where the algorithm is
// one the OCI image spec registers (sha256 with 64 lower-case hex digits,
// sha512 with 128), and the repository is a valid reference.
package imageref

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// hexLen is the encoded length of each digest algorithm the OCI image
// spec registers.
var hexLen = map[string]int{"sha256": 64, "sha512": 128}

// ErrNotPinned is wrapped by every error Digest returns.
var ErrNotPinned = errors.New("not pinned by digest")

// Digest returns the digest ("sha256:<hex>") ref is pinned by, or an error
// wrapping ErrNotPinned that says what is wrong. The error never quotes
// more than 64 bytes of ref.
func Digest(ref string) (string, error) {
	at := strings.LastIndexByte(ref, '@')
	if at < 0 {
		return "", fmt.Errorf("%s has no digest (want repo@sha256:<64 hex>): %w", Quote(ref), ErrNotPinned)
	}
	repo, digest := ref[:at], ref[at+1:]
	algo, hex, ok := strings.Cut(digest, ":")
	want := hexLen[algo]
	switch {
	case !ok || want == 0:
		return "", fmt.Errorf("%s: digest algorithm %s is not sha256 or sha512: %w", Quote(ref), Quote(algo), ErrNotPinned)
	case len(hex) != want || !lowerHex(hex):
		return "", fmt.Errorf("%s: a %s digest is %d lower-case hex digits: %w", Quote(ref), algo, want, ErrNotPinned)
	}
	if _, err := name.NewRepository(stripTag(repo)); err != nil {
		return "", fmt.Errorf("%s: repository is not valid: %w", Quote(ref), ErrNotPinned)
	}
	return digest, nil
}

// Pinned reports whether ref is pinned by a valid digest.
func Pinned(ref string) bool {
	_, err := Digest(ref)
	return err == nil
}

// Repository returns ref without its tag and digest.
func Repository(ref string) string {
	if at := strings.LastIndexByte(ref, '@'); at >= 0 {
		ref = ref[:at]
	}
	return stripTag(ref)
}

// stripTag drops a ":tag" after the last "/" (repo:tag@digest is a valid
// reference whose tag is ignored); a ":port" before it stays.
func stripTag(repo string) string {
	if c := strings.LastIndexByte(repo, ':'); c > strings.LastIndexByte(repo, '/') {
		return repo[:c]
	}
	return repo
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Quote quotes s in at most 64 bytes of output (cutting it, and saying
// so), so an error never carries a pasted secret or a megabyte param in
// whole, however many bytes need escaping.
func Quote(s string) string {
	q := strconv.Quote(s)
	for n := min(len(s), 64); len(q) > 64; n-- {
		q = strconv.Quote(s[:n]) + "…"
	}
	return q
}
