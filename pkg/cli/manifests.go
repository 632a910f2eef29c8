package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/modelguard/modelguard/pkg/acs"
	"sigs.k8s.io/yaml"
)

// maxManifestBytes bounds what deployment-check reads: serving manifests
// are kilobytes, and Central parses the whole request in memory.
const maxManifestBytes = 4 << 20

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// manifests are the YAML documents to check and where each object came
// from, so a report can point at the file.
type manifests struct {
	yaml    string
	files   []string
	objects map[string]string // Kind/name → file
}

func (m *manifests) fileOf(object string) string {
	if f, ok := m.objects[object]; ok {
		return f
	}
	return strings.Join(m.files, ",")
}

// readManifests reads -f arguments: files, directories (their YAML and
// JSON files, sorted) or "-" for stdin. Every document must be a
// Kubernetes object (kind and metadata.name), so a typo fails here with
// the file named rather than as a puzzling "nothing to check" later.
func readManifests(args []string, stdin io.Reader) (*manifests, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("--file is required: the manifests to check (files, directories or -)")
	}
	m := &manifests{objects: map[string]string{}}
	var docs []string
	total := 0
	add := func(name string, r io.Reader) error {
		b, err := io.ReadAll(io.LimitReader(r, maxManifestBytes+1-int64(total)))
		if err != nil {
			return fmt.Errorf("--file %s: %w", name, err)
		}
		if total += len(b); total > maxManifestBytes {
			return fmt.Errorf("--file %s: the manifests are more than %d MiB together", name, maxManifestBytes>>20)
		}
		if err := m.index(name, string(b)); err != nil {
			return err
		}
		docs = append(docs, string(b))
		m.files = append(m.files, name)
		return nil
	}
	for _, arg := range args {
		if arg == "-" {
			if err := add("-", stdin); err != nil {
				return nil, err
			}
			continue
		}
		files, err := manifestFiles(arg)
		if err != nil {
			return nil, err
		}
		for _, name := range files {
			f, err := os.Open(name)
			if err != nil {
				return nil, fmt.Errorf("--file %w", err)
			}
			err = add(name, f)
			f.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	m.yaml = acs.JoinYAML(docs...)
	if len(m.objects) == 0 {
		return nil, fmt.Errorf("--file %s: no Kubernetes objects found", strings.Join(args, ", "))
	}
	return m, nil
}

func manifestFiles(arg string) ([]string, error) {
	info, err := os.Stat(arg)
	if err != nil {
		return nil, fmt.Errorf("--file %w", err)
	}
	if !info.IsDir() {
		return []string{arg}, nil
	}
	entries, err := os.ReadDir(arg)
	if err != nil {
		return nil, fmt.Errorf("--file %w", err)
	}
	var out []string
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				out = append(out, filepath.Join(arg, e.Name()))
			}
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("--file %s: directory has no .yaml, .yml or .json files", arg)
	}
	return out, nil
}

// index records each document's Kind/name, and refuses a document that
// is not a Kubernetes object.
func (m *manifests) index(file, content string) error {
	for i, doc := range docSeparator.Split(content, -1) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		var probe map[string]any
		if err := yaml.Unmarshal([]byte(doc), &probe); err != nil {
			return fmt.Errorf("--file %s: document %d: %v", file, i+1, err)
		}
		if len(probe) == 0 {
			continue // empty or comments only
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj.Kind == "" || obj.Metadata.Name == "" {
			return fmt.Errorf("--file %s: document %d is not a Kubernetes object (needs kind and metadata.name)", file, i+1)
		}
		m.objects[obj.Kind+"/"+obj.Metadata.Name] = file
	}
	return nil
}
