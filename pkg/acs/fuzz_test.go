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

// FuzzDecodeRuntime feeds any bytes to the runtime decoders: they never
// panic, and what they keep stays inside the limits whatever the peer sent.
func FuzzDecodeRuntime(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{`null`, `{"alerts":null}`, `{"alerts":[null]}`, `{"groups":[{"groups":[{"signals":[null]}]}]}`,
		`{"alerts":{}}`, `{"alerts":[1]}`, `{"containers":[{"image":{"name":null}}]}`, `{"processViolation":{"processes":[{}]}}`} {
		f.Add([]byte(s))
	}
	within := func(t *testing.T, what string, ss ...string) {
		for _, s := range ss {
			if len(s) > MaxText+len("…") {
				t.Fatalf("%s keeps %d bytes", what, len(s))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		_ = decodeList(bytes.NewReader(data), "alerts", "alerts", alertPageSize, func(a *ListAlert) error {
			n++
			if err := a.bound(); err != nil {
				return err
			}
			if a.Policy != nil {
				within(t, "alert policy", a.Policy.Name, a.Policy.Description)
			}
			return nil
		})
		if n > alertPageSize {
			t.Fatalf("%d alerts decoded", n)
		}
		_ = decodeList(bytes.NewReader(data), "groups", "groups", MaxProcessGroups, func(g *ContainerProcesses) error {
			shortenAll(&g.Name, &g.ContainerName)
			within(t, "group", g.Name, g.ContainerName)
			return nil
		})
		var d Deployment
		if boundedInto(&d)(bytes.NewReader(data)) == nil {
			within(t, "deployment", d.ID, d.Name)
			if len(d.Containers) > MaxContainers {
				t.Fatalf("%d containers kept", len(d.Containers))
			}
		}
		var a Alert
		if boundedInto(&a)(bytes.NewReader(data)) == nil && a.ProcessViolation != nil {
			if len(a.ProcessViolation.Processes) > MaxAlertEvidence {
				t.Fatalf("%d processes kept", len(a.ProcessViolation.Processes))
			}
			for _, p := range a.ProcessViolation.Processes {
				within(t, "process", p.Signal.Args, p.Signal.ExecFilePath)
			}
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
