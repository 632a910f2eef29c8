package cli

import (
	"strings"
	"testing"
)

// FuzzManifests: whatever bytes a -f file holds, reading it gives either
// objects or an error that names the file, never a panic.
func FuzzManifests(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
		"---\nkind: Deployment\nmetadata: {name: d}\n---\n# comment only\n---\n",
		"kind: [unclosed\n",
		"just: a map\n",
		"{\"kind\":\"Service\",\"metadata\":{\"name\":\"j\"}}",
		"",
		"--- \n---\t\nkind: X\nmetadata:\n  name: \"\"\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, content string) {
		m, err := readManifests([]string{"-"}, strings.NewReader(content))
		if err != nil {
			if !strings.Contains(err.Error(), "--file") {
				t.Fatalf("error does not name the flag: %v", err)
			}
			return
		}
		if len(m.objects) == 0 || m.yaml == "" {
			t.Fatalf("no error, but no objects: %+v", m)
		}
	})
}
