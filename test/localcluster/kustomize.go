package localcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Render renders the kustomization in dir with the kustomize Go API, as
// `kubectl apply -k` would, and returns the YAML stream. Resources may
// lie outside dir, as `kustomize build --load-restrictor
// LoadRestrictionsNone` allows.
func Render(dir string) ([]byte, error) {
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return m.AsYaml()
}

// RenderWith renders the kustomization base with the kustomize
// Components (dirs) applied and labels added to every object and pod
// template (not to selectors), from a kustomization of its own in a
// temporary dir: kustomize refuses an overlay that lives inside its
// base's dir, as config/overlays/openshift does inside config/.
func RenderWith(base string, components []string, labels map[string]string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "kustomize-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	// kustomize takes no absolute paths; relative ones may leave the root.
	rel := func(p string) (string, error) {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		return filepath.Rel(tmp, abs)
	}
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
	b, err := rel(base)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&k, "resources:\n  - %s\n", b)
	if len(components) > 0 {
		k.WriteString("components:\n")
		for _, c := range components {
			r, err := rel(c)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&k, "  - %s\n", r)
		}
	}
	if len(labels) > 0 {
		keys := make([]string, 0, len(labels))
		for l := range labels {
			keys = append(keys, l)
		}
		sort.Strings(keys)
		k.WriteString("labels:\n  - includeTemplates: true\n    pairs:\n")
		for _, l := range keys {
			fmt.Fprintf(&k, "      %s: %q\n", l, labels[l])
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "kustomization.yaml"), []byte(k.String()), 0o644); err != nil {
		return nil, err
	}
	return Render(tmp)
}
