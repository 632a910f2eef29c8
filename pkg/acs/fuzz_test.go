package acs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeImage checks the streaming Image decoder: it never panics, it
// accepts exactly what json.Unmarshal accepts, it produces the same value,
// and what it produces can be written back and read again (the emulator
// writes these types).
func FuzzDecodeImage(f *testing.F) {
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
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeImage(bytes.NewReader(data))
		var want Image
		wantErr := json.Unmarshal(data, &want)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeImage error %v, json.Unmarshal error %v", err, wantErr)
		}
		if err != nil {
			return
		}
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
