package gate

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/modelguard/modelguard/pkg/acs"
	"sigs.k8s.io/yaml"
)

// MaxManifestBytes bounds the serving manifests one DeploymentCheck takes,
// from any door: they are kilobytes, a ConfigMap holds at most 1 MiB, and
// Central parses the whole request in memory.
const MaxManifestBytes = 1 << 20

// Manifest is one source of serving manifests: a file, a ConfigMap key,
// an inline param. Source names it in errors and reports.
type Manifest struct {
	Source string
	YAML   string
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// manifestSet is the parsed input: the joined YAML Central gets and where
// each object came from.
type manifestSet struct {
	yaml    string
	objects map[string]string // Kind/name → source
	order   []string          // Kind/name, as given
	docs    []object          // every object, parsed
}

// object is one parsed manifest document.
type object struct {
	id, source string
	body       map[string]any
}

// parseManifests checks the input with one rule for every door: at most
// MaxManifestBytes together, and every document a Kubernetes object (kind
// and metadata.name), so a typo fails naming its source rather than as a
// puzzling "nothing to check".
func parseManifests(ms []Manifest) (*manifestSet, error) {
	set := &manifestSet{objects: map[string]string{}}
	total := 0
	var docs []string
	for _, m := range ms {
		if total += len(m.YAML); total > MaxManifestBytes {
			return nil, fmt.Errorf("%s: the manifests are more than %d KiB together", m.Source, MaxManifestBytes>>10)
		}
		for i, doc := range docSeparator.Split(m.YAML, -1) {
			var probe map[string]any
			if err := yaml.Unmarshal([]byte(doc), &probe); err != nil {
				return nil, fmt.Errorf("%s: document %d: %v", m.Source, i+1, firstLine(err.Error()))
			}
			if len(probe) == 0 {
				continue // empty, or comments only
			}
			kind, _ := probe["kind"].(string)
			meta, _ := probe["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			if kind == "" || name == "" {
				return nil, fmt.Errorf("%s: document %d is not a Kubernetes object (needs kind and metadata.name)", m.Source, i+1)
			}
			id := kind + "/" + name
			if _, dup := set.objects[id]; !dup {
				set.order = append(set.order, id)
			}
			set.objects[id] = m.Source
			set.docs = append(set.docs, object{id: id, source: m.Source, body: probe})
		}
		docs = append(docs, m.YAML)
	}
	if len(set.objects) == 0 {
		return nil, fmt.Errorf("%s: no Kubernetes objects found", sources(ms))
	}
	set.yaml = acs.JoinYAML(docs...)
	return set, nil
}

func sources(ms []Manifest) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Source)
	}
	if len(s) == 0 {
		return "the manifests"
	}
	return strings.Join(s, ", ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
