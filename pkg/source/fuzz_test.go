package source

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseLFSPointer: whatever a repository's small files hold, the
// parser neither panics nor calls a file a pointer without the spec's
// first line and an oid, and what it reports comes from the file.
func FuzzParseLFSPointer(f *testing.F) {
	f.Add([]byte("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n"))
	f.Add([]byte("version https://hawser.github.com/spec/v1\noid sha256:00\n"))
	f.Add([]byte("version https://git-lfs.github.com/spec/v1\n"))
	f.Add([]byte("{\"model_type\": \"llama\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, ok := parseLFSPointer(data)
		if !ok {
			return
		}
		if !strings.HasPrefix(string(data), "version https://") || p.OID == "" {
			t.Fatalf("%q parsed as a pointer: %+v", data, p)
		}
		if !strings.Contains(string(data), "oid "+p.OID) {
			t.Fatalf("oid %q is not in %q", p.OID, data)
		}
		if utf8.ValidString(string(data)) && len(data) >= lfsPointerMax {
			t.Fatalf("a %d-byte file parsed as a pointer", len(data))
		}
	})
}
