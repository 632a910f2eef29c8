package gate

import (
	"strings"
	"testing"
)

func TestParseManifests(t *testing.T) {
	set, err := parseManifests([]Manifest{
		{Source: "a.yaml", YAML: "kind: Deployment\nmetadata: {name: d}\n---\n# only a comment\n"},
		{Source: "b.yaml", YAML: "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if set.objects["Deployment/d"] != "a.yaml" || set.objects["Service/s"] != "b.yaml" || len(set.order) != 2 {
		t.Errorf("objects = %v", set.objects)
	}
	if !strings.Contains(set.yaml, "kind: Deployment") || !strings.Contains(set.yaml, "\n---\n") {
		t.Errorf("yaml = %q", set.yaml)
	}
	for name, tc := range map[string]struct {
		in   []Manifest
		want string
	}{
		"not an object": {[]Manifest{{Source: "x.yaml", YAML: "just: a map\n"}}, "x.yaml: document 1 is not a Kubernetes object"},
		"bad yaml":      {[]Manifest{{Source: "y.yaml", YAML: "kind: [unclosed\n"}}, "y.yaml: document 1"},
		"nothing":       {[]Manifest{{Source: "z.yaml", YAML: "# nothing\n"}}, "z.yaml: no Kubernetes objects"},
		"none given":    {nil, "no Kubernetes objects"},
		"too large":     {[]Manifest{{Source: "big", YAML: strings.Repeat("#", MaxManifestBytes+1)}}, "more than 1024 KiB"},
	} {
		if _, err := parseManifests(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

// FuzzParseManifests: whatever bytes a manifest holds, parsing gives
// objects or an error that names the source, never a panic, and never an
// error longer than a result can hold.
func FuzzParseManifests(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
		"---\nkind: Deployment\nmetadata: {name: d}\n---\n# comment only\n---\n",
		"kind: [unclosed\n",
		"just: a map\n",
		"{\"kind\":\"Service\",\"metadata\":{\"name\":\"j\"}}",
		"",
		"--- \n---\t\nkind: X\nmetadata:\n  name: \"\"\n",
		"kind: 7\nmetadata: [1]\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, content string) {
		set, err := parseManifests([]Manifest{{Source: "src.yaml", YAML: content}})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "src.yaml") || len(err.Error()) > 400 {
				t.Fatalf("error does not name the source, or is too long: %v", err)
			}
			return
		}
		if len(set.objects) == 0 || set.yaml == "" {
			t.Fatalf("no error, but no objects: %+v", set)
		}
	})
}
