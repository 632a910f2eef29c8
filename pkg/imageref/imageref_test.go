package imageref

import (
	"errors"
	"strings"
	"testing"
)

var hex64 = strings.Repeat("a1", 32)

func TestDigest(t *testing.T) {
	for ref, want := range map[string]string{
		"registry.example.com/models/granite@sha256:" + hex64:         "sha256:" + hex64,
		"127.0.0.1:5000/m@sha256:" + hex64:                            "sha256:" + hex64,
		"quay.io/org/m:1.0@sha256:" + hex64:                           "sha256:" + hex64,
		"ghcr.io/m@sha512:" + strings.Repeat("0f", 64):                "sha512:" + strings.Repeat("0f", 64),
		"docker.io/library/busybox@sha256:" + strings.Repeat("0", 64): "sha256:" + strings.Repeat("0", 64),
		"localhost/a/b/c@sha256:" + strings.Repeat("9", 64):           "sha256:" + strings.Repeat("9", 64),
	} {
		got, err := Digest(ref)
		if err != nil || got != want {
			t.Errorf("Digest(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	for _, ref := range []string{
		"",
		"registry.example.com/models/granite:1.0",
		"registry.example.com/models/granite@sha256:0123",                      // too short
		"registry.example.com/models/granite@sha256:" + hex64 + "00",           // too long
		"registry.example.com/models/granite@sha256:" + strings.ToUpper(hex64), // upper case
		"registry.example.com/models/granite@md5:" + hex64,
		"registry.example.com/models/granite@" + hex64,
		"Registry/UPPER@sha256:" + hex64,
		"@sha256:" + hex64,
		"has space/x@sha256:" + hex64,
		"x@sha256:" + hex64 + "@sha256:" + hex64,
	} {
		if d, err := Digest(ref); err == nil || !errors.Is(err, ErrNotPinned) {
			t.Errorf("Digest(%q) = %q, %v; want ErrNotPinned", ref, d, err)
		}
		if Pinned(ref) {
			t.Errorf("Pinned(%q) = true", ref)
		}
	}
}

func TestRepository(t *testing.T) {
	for ref, want := range map[string]string{
		"r.io/m:1.0@sha256:" + hex64: "r.io/m",
		"127.0.0.1:5000/m:tag":       "127.0.0.1:5000/m",
		"127.0.0.1:5000/m":           "127.0.0.1:5000/m",
		"m@sha256:" + hex64:          "m",
	} {
		if got := Repository(ref); got != want {
			t.Errorf("Repository(%q) = %q, want %q", ref, got, want)
		}
	}
}

// FuzzDigest: never panics, an accepted reference is one the rule allows,
// and an error never quotes more than 64 bytes of the input.
func FuzzDigest(f *testing.F) {
	for _, s := range []string{"r.io/m@sha256:" + hex64, "r.io/m:1", "@", "x@sha512:00", strings.Repeat("a", 200) + "@sha256:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		d, err := Digest(ref)
		if err != nil {
			if len(err.Error()) > 300 {
				t.Fatalf("error is %d bytes: %v", len(err.Error()), err)
			}
			return
		}
		algo, hex, _ := strings.Cut(d, ":")
		if len(hex) != hexLen[algo] || !lowerHex(hex) || !strings.HasSuffix(ref, "@"+d) {
			t.Fatalf("Digest(%q) accepted %q", ref, d)
		}
	})
}
