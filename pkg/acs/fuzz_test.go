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
