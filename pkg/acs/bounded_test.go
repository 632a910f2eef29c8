package acs

import (
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// repeatReader streams head, then body repeated until about n bytes
// have been sent, then tail: a hostile answer of any size without holding
// it.
type repeatReader struct {
	parts []string
	n     int64
	sent  int64
	pos   int
}

func hostile(head, body, tail string, n int64) *repeatReader {
	return &repeatReader{parts: []string{head, body, tail}, n: n}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	w := 0
	for w < len(p) && len(r.parts) > 0 {
		k := copy(p[w:], r.parts[0][r.pos:])
		w, r.pos, r.sent = w+k, r.pos+k, r.sent+int64(k)
		if r.pos < len(r.parts[0]) {
			continue
		}
		r.pos = 0
		if len(r.parts) != 2 || r.sent >= r.n { // the body repeats
			r.parts = r.parts[1:]
		}
	}
	if w == 0 {
		return 0, io.EOF
	}
	return w, nil
}

// allocated runs f and returns the bytes it allocated in all (garbage
// included): a bound on what decoding could ever have held.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Every shape of hostile scan answer is refused (or, for members the
// decoder drops, accepted) with memory bounded by the limits, not by the
// body: the reproduced attack was 8 MiB of empty vulnerabilities driving
// the CLI to 3.1 GiB.
func TestHostileAnswersAreBounded(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name  string
		body  *repeatReader
		limit string // the LimitError.Limit expected; "" for success
	}{
		{"8 MiB of empty vulnerabilities", hostile(`{"id":"sha256:x","scan":{"components":[{"name":"c","vulns":[{}`, `,{}`, `]}]}}`, 8*mib), "MaxItems"},
		{"64 MiB of empty vulnerabilities", hostile(`{"scan":{"components":[{"vulns":[{}`, `,{}`, `]}]}}`, 64*mib), "MaxItems"},
		{"vulnerabilities spread over components", hostile(`{"scan":{"components":[{"vulns":[]}`,
			`,{"name":"component-with-a-long-name-component-with-a-long-name-component-with-a-long-name-component-with-a-long-name-component-with-a-long-name","vulns":[{"cve":"CVE-2026-00001","link":"https://example.com/CVE-2026-00001"}]}`, `]}}`, 64*mib), "MaxRetainedBytes"},
		{"one 64 MiB string", hostile(`{"id":"`, `aaaaaaaaaaaaaaaa`, `"}`, 64*mib), "MaxTokenBytes"},
		{"one 64 MiB number", hostile(`{"scan":{"components":[{"vulns":[{"cvss":1`, `0000000000000000`, `}]}]}}`, 64*mib), "MaxTokenBytes"},
		{"a 64 MiB key", hostile(`{"`, `kkkkkkkkkkkkkkkk`, `":1}`, 64*mib), "MaxTokenBytes"},
		{"nesting", hostile(`{"x":`, `[`, ``, 1*mib), "MaxDepth"},
		{"64 MiB of a member the gate does not read", hostile(`{"id":"sha256:x","names":[{}`, `,{"fullName":"n"}`, `],"scan":null}`, 64*mib), ""},
		{"64 MiB of summaries", hostile(`{"scan":{"components":[{"vulns":[{"summary":"s"}`, `,{"summary":"a long summary nobody reads, over and over"}`, `]}]}}`, 64*mib), "MaxItems"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = DecodeImage(tc.body) })
			var le *LimitError
			switch {
			case tc.limit == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.limit != "" && (!errors.As(err, &le) || le.Limit != tc.limit || !IsTooLarge(err)):
				t.Fatalf("err = %v, want a %s LimitError", err, tc.limit)
			}
			// The retained budget (24 MiB, about twice that while a slice
			// grows) plus the read buffer and one token.
			if n > 64*mib {
				t.Errorf("decoding allocated %d MiB", n/mib)
			}
			t.Logf("%s: %v; allocated %.1f MiB", tc.name, err, float64(n)/mib)
		})
	}
}

// The detect answers and the small ones are bounded the same way: a map
// with a million members, alerts past the item limit.
func TestHostileDetectAnswersAreBounded(t *testing.T) {
	var a AuthStatus
	err := decodeJSON(hostile(`{"userInfo":{"permissions":{"resourceToAccess":{"a":"x"`, `,"k":"READ_ACCESS"`, `}}}}`, 16<<20), &a)
	if !IsTooLarge(err) {
		t.Errorf("auth status: %v", err)
	}
	// Distinct keys: a map keeps each.
	var keys strings.Builder
	keys.WriteString(`{"resourceToAccess":{"k0":"x"`)
	for i := range 200_000 {
		keys.WriteString(`,"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i) + `":"y"`)
	}
	keys.WriteString(`}}`)
	var p Permissions
	if err := decodeJSON(strings.NewReader(keys.String()), &p); !IsTooLarge(err) || !strings.Contains(err.Error(), "resourceToAccess has more than 100000 elements") {
		t.Errorf("permissions: %v", err)
	}
	var b BuildDetectionResponse
	err = decodeJSON(hostile(`{"alerts":[{}`, `,{"policy":{"name":"p"}}`, `]}`, 32<<20), &b)
	if !IsTooLarge(err) {
		t.Errorf("build alerts: %v", err)
	}
	var d DeployDetectionResponse
	err = decodeJSON(hostile(`{"runs":[{"alerts":[{"violations":[{}`, `,{"message":"m"}`, `]}]}]}`, 32<<20), &d)
	if !IsTooLarge(err) || !strings.Contains(err.Error(), "runs[].alerts[].violations") {
		t.Errorf("deploy violations: %v", err)
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

// CutText shortens kept strings on a rune boundary, for callers that keep
// text for people (messages), not for comparison.
func TestCutText(t *testing.T) {
	var v struct {
		S string   `json:"s"`
		L []string `json:"l"`
	}
	if _, err := decodeBounded(strings.NewReader(`{"s":"ééééé","l":["abcdefgh"]}`), &v, Limits{CutText: 5}); err != nil {
		t.Fatal(err)
	}
	if v.S != "éé…" || v.L[0] != "abcde…" {
		t.Errorf("cut = %q %q", v.S, v.L)
	}
}

// Types the decoder cannot bound as encoding/json decodes them are refused
// up front, so a new response type cannot silently decode differently.
func TestUnsupportedTypesRefused(t *testing.T) {
	for _, v := range []any{new(struct{ A any }), new(struct{ B [2]int }), new(map[int]string), new(struct{ C []byte })} {
		if _, err := decodeBounded(strings.NewReader(`{}`), v, Limits{}); err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%T: %v", v, err)
		}
	}
	for _, v := range []any{new(Image), new(BuildDetectionResponse), new(DeployDetectionResponse), new(AuthStatus),
		new(Permissions), new(Metadata), new(PingResponse)} {
		if err := checkType(reflect.TypeOf(v).Elem()); err != nil {
			t.Error(err)
		}
	}
}
