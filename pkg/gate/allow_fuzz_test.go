package gate

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseAllow: an allow-list entry either parses into a known id, a
// day and a non-empty reason that round-trip, or fails with the input
// quoted (cut to 64 bytes), never a panic.
func FuzzParseAllow(f *testing.F) {
	for _, seed := range []string{
		"CVE-2024-3094,2026-12-31,xz backdoor not reachable",
		"GHSA-xxxx-2345-6789,2026-01-01,reason, with commas",
		"RHSA-2024:1234,2026-02-29,not a leap year",
		"CVE-2024-3094,,no date",
		",,",
		"CVE-2024-3094,2026-12-31,",
		strings.Repeat("A", 200),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAllow(s)
		if err != nil {
			// 64 input bytes, each at most 4 characters once quoted
			// (\x80), plus the message.
			if len(err.Error()) > 400 {
				t.Fatalf("error too long (%d bytes): input is not cut", len(err.Error()))
			}
			return
		}
		if !cveID.MatchString(a.CVE) || strings.TrimSpace(a.Reason) == "" {
			t.Fatalf("accepted %q as %+v", s, a)
		}
		if d := a.Expires.Format(time.DateOnly); !strings.Contains(s, d) {
			t.Fatalf("expiry %s is not the day in %q", d, s)
		}
	})
}

// FuzzParseProcessAllow: a process allow-list entry either parses into an
// entry that allows exactly its own path (or prefix) in its container, or
// fails with a short message; no entry ever allows a relative or unclean
// path such as "/usr/bin/../../bin/sh".
func FuzzParseProcessAllow(f *testing.F) {
	for _, seed := range []string{
		"server:/usr/bin/modelguard", "*:/opt/app-root/bin/*", "server:", ":/bin/sh", "server:bin/sh",
		"server:/usr/../bin/sh", "server:/a*b", "server://bin/sh", "a:b:/c", strings.Repeat("x", 300) + ":/y",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseProcessAllow([]string{s})
		if err != nil {
			if len(err.Error()) > 400 {
				t.Fatalf("error too long (%d bytes)", len(err.Error()))
			}
			return
		}
		if strings.TrimSpace(s) == "" {
			if a.Len() != 0 {
				t.Fatalf("an empty entry allowed something")
			}
			return
		}
		container, p, _ := strings.Cut(strings.TrimSpace(s), ":")
		container, p = strings.TrimSpace(container), strings.TrimSpace(p)
		exact := strings.TrimSuffix(p, "*")
		if !a.Allows(container, exact) && !a.Allows(container, exact+"x") {
			t.Fatalf("%q does not allow its own path", s)
		}
		for _, sneaky := range []string{"bin/sh", "/../bin/sh"} {
			if a.Allows(container, sneaky) && !strings.HasSuffix(p, "*") {
				t.Fatalf("%q allows %q", s, sneaky)
			}
		}
	})
}
