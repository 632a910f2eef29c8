package results

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	ok := Results{{Name: "a", Value: "1"}, {Name: "b", Value: strings.Repeat("x", MaxBytes)}}
	if err := ok.Check(); err != nil {
		t.Fatalf("results within limits refused: %v", err)
	}
	for name, rs := range map[string]Results{
		"too big":   {{Name: "a", Value: strings.Repeat("x", MaxBytes+1)}},
		"twice":     {{Name: "a"}, {Name: "a"}},
		"no name":   {{Value: "x"}},
		"too large": {{Name: "a", Value: strings.Repeat("x", 4000)}, {Name: "b", Value: strings.Repeat("x", 4000)}, {Name: "c", Value: strings.Repeat("x", 4000)}, {Name: "d", Value: strings.Repeat("x", 4000)}, {Name: "e", Value: strings.Repeat("x", 1000)}},
	} {
		if err := rs.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFit(t *testing.T) {
	if got := Fit("short", 10); got != "short" {
		t.Fatalf("Fit cut a short value: %q", got)
	}
	got := Fit(strings.Repeat("é", 100), 51)
	if len(got) > 51 || !strings.HasSuffix(got, "… (cut)") || !utf8Valid(got) {
		t.Fatalf("Fit(200 bytes, 51) = %q (%d bytes)", got, len(got))
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
