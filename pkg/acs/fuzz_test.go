package acs

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fuzzSeeds are every API fixture plus the shapes that trip decoders:
// duplicate keys, case-folded keys, nulls, wrong kinds, trailing data.
func fuzzSeeds(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`null`, `{}`, `{"scan":null}`, `{"scan":{"components":null}}`, `{"scan":{"components":[]}}`,
		`{"scan":{"components":[null,{}]},"Scan":{"Components":[{"name":"x"}]}}`,
		`{"scan":{"components":[{"name":"a"},{"name":"b"}]},"scan":{"components":[{"version":"1"}]}}`,
		`{"priority":7,"scan":{"hash":"18446744073709551615"}}`, `{"scan":5}`, `[]`, `{} {}`,
		`{"alerts":[{"policy":{"name":"p","enforcementActions":["FAIL_BUILD_ENFORCEMENT"]},"violations":[{"message":"m"}]}]}`,
		`{"runs":[{"name":"d","type":"Deployment","alerts":[{"time":"2026-01-01T00:00:00Z"}]}],"ignoredObjectRefs":["a"]}`,
		`{"runs":[{"alerts":[{"time":"2026-01-01T00:00:00\u005a"}]}]}`,
		`{"ID":"x","ıd":"y","scan":{"cOmPoNeNtS":[{"VULNS":[{"cvss":1e3,"severity":"\u0041"}]}]}}`,
		`{"userInfo":{"roles":[{"resourceToAccess":{"Image":"READ_ACCESS","Image":null}}]},"expires":null}`,
		`{"serial":"12","id":"\ud800"}`, `{"scan":{"components":[{"vulns":[{},{},{}]}]}}`,
		`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecodeImage checks the bounded Image decoder: it never panics, it
// accepts exactly what json.Unmarshal accepts (unless a limit refuses the
// answer), it produces the same value, and what it produces can be written
// back and read again.
func FuzzDecodeImage(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeImage(bytes.NewReader(data))
		var want Image
		wantErr := json.Unmarshal(data, &want)
		if !agree(t, err, wantErr) {
			return
		}
		got.retained = 0
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("DecodeImage and json.Unmarshal differ:\n%+v\n%+v", *got, want)
		}
		out, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := DecodeImage(bytes.NewReader(out)); err != nil {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
	})
}

// FuzzDecodeBounded checks the same property for the other answers (the
// detect responses, with times and nested alerts; auth status, with maps),
// under default limits and under tiny ones, where the decoder may refuse
// but never accept something different.
func FuzzDecodeBounded(f *testing.F) {
	fuzzSeeds(f)
	tiny := Limits{MaxTokenBytes: 16, MaxDepth: 4, MaxItems: 2, MaxRetainedBytes: 512, CutText: 0}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range []Limits{{}, tiny} {
			checkBounded[BuildDetectionResponse](t, data, lim)
			checkBounded[DeployDetectionResponse](t, data, lim)
			checkBounded[AuthStatus](t, data, lim)
			checkBounded[Image](t, data, lim)
		}
	})
}

func checkBounded[T any](t *testing.T, data []byte, lim Limits) {
	t.Helper()
	got := new(T)
	n, err := decodeBounded(bytes.NewReader(data), got, lim)
	want := new(T)
	wantErr := json.Unmarshal(data, want)
	if !agree(t, err, wantErr) {
		return
	}
	if img, ok := any(got).(*Image); ok {
		img.retained = 0
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%T: decodeBounded and json.Unmarshal differ:\n%+v\n%+v", got, got, want)
	}
	if l := lim.withDefaults(); n > l.MaxRetainedBytes {
		t.Fatalf("%T: retained %d bytes past the limit %d", got, n, l.MaxRetainedBytes)
	}
}

// agree fails the test unless the bounded decoder's error agrees with
// encoding/json's: both succeed, both fail, or the decoder refused the
// answer for a limit. It reports whether both succeeded.
func agree(t *testing.T, err, wantErr error) bool {
	t.Helper()
	switch {
	case err != nil && errors.Is(err, ErrLimit):
		return false
	case (err == nil) != (wantErr == nil):
		t.Fatalf("bounded decoder error %v, json.Unmarshal error %v", err, wantErr)
	}
	return err == nil
}
