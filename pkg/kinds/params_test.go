package kinds

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

var decl = []Param{
	{Name: "image", Required: true},
	{Name: "allow", Type: v1beta1.ParamTypeArray},
	{Name: "labels", Type: v1beta1.ParamTypeObject},
	{Name: "doc", MaxBytes: 8},
}

func params(t testing.TB, js string) []v1beta1.Param {
	t.Helper()
	var ps []v1beta1.Param
	if err := json.Unmarshal([]byte(js), &ps); err != nil {
		t.Fatalf("params %s: %v", js, err)
	}
	return ps
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, params, wantErr string
	}{
		{"all good", `[{"name":"image","value":"a@sha256:1"},{"name":"allow","value":["x"]},{"name":"labels","value":{"k":"v"}}]`, ""},
		{"missing required", `[]`, `param "image": required but not given`},
		{"string given an array", `[{"name":"image","value":["a"]}]`, `param "image": must be of type string, got array`},
		{"array given an object", `[{"name":"image","value":"a"},{"name":"allow","value":{"a":"b"}}]`, `param "allow": must be of type array, got object`},
		{"unknown", `[{"name":"image","value":"a"},{"name":"imgae","value":"b"}]`, `param "imgae": unknown param; this kind accepts allow, doc, image, labels`},
		{"duplicate", `[{"name":"image","value":"a"},{"name":"image","value":"b"}]`, `param "image": given more than once`},
		{"over its own limit", `[{"name":"image","value":"a"},{"name":"doc","value":"123456789"}]`, `param "doc": value is 9 bytes; the limit is 8`},
		{"number becomes a string", `[{"name":"image","value":5}]`, ""},
		{"huge name is cut", `[{"name":"image","value":"a"},{"name":"` + strings.Repeat("n", 5000) + `","value":"b"}]`, `"` + strings.Repeat("n", 64) + `"… (5000 bytes): unknown param`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := Check(decl, params(t, tc.params))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !vals.Has("image") {
					t.Fatal("image missing from values")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v; want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestValuesAreCopies(t *testing.T) {
	vals, err := Check(decl, params(t, `[{"name":"image","value":"a"},{"name":"allow","value":["x"]},{"name":"labels","value":{"k":"v"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	vals.Array("allow")[0] = "changed"
	vals.Object("labels")["k"] = "changed"
	if vals.Array("allow")[0] != "x" || vals.Object("labels")["k"] != "v" {
		t.Fatal("a kind could change the run's params through the returned values")
	}
	if vals.String("missing", "def") != "def" || vals.Array("missing") != nil || vals.Object("missing") != nil {
		t.Fatal("defaults for missing params are wrong")
	}
}

// FuzzCheck feeds arbitrary param lists (as Tekton would decode them from
// a CustomRun) to Check: it must never panic, must either accept or
// explain with *ParamError naming a param, and must not quote big values.
func FuzzCheck(f *testing.F) {
	for _, seed := range []string{
		`[]`,
		`[{"name":"image","value":"a"}]`,
		`[{"name":"image","value":["a"]},{"name":"allow","value":{"x":"y"}}]`,
		`[{"name":"doc","value":"123456789"},{"name":"doc","value":""}]`,
		`[{"name":"","value":null}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ps []v1beta1.Param
		if json.Unmarshal(data, &ps) != nil {
			return
		}
		vals, err := Check(decl, ps)
		if err == nil {
			if !vals.Has("image") {
				t.Fatal("accepted without the required param")
			}
			return
		}
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param == "" && !strings.Contains(err.Error(), `param ""`) {
			t.Fatalf("error is not a ParamError: %v", err)
		}
		if len(err.Error()) > 200*len(ps)+200 {
			t.Fatalf("error message grows with the values: %d bytes", len(err.Error()))
		}
	})
}
