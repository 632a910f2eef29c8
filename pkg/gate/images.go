package gate

import (
	"sort"
	"strings"
)

// ManifestImages lists the images the manifests would run that are pinned
// by digest (containers and init containers of Pods and of anything with a
// pod template, and an InferenceService's oci:// storageUri), sorted and
// unique: what a deployment check's verdict is about. Manifests that do
// not parse give none (the gate itself reports why).
func ManifestImages(ms []Manifest) []string {
	set, err := parseManifests(ms)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	for _, d := range set.docs {
		walkImages(d.body, seen)
	}
	var out []string
	for img := range seen {
		out = append(out, img)
	}
	sort.Strings(out)
	return out
}

// walkImages collects every "image" of a container list and every
// oci://…@sha256 storageUri anywhere in the object.
func walkImages(v any, seen map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok {
				if img, ok := pinnedImage(k, s); ok {
					seen[img] = true
				}
				continue
			}
			walkImages(x, seen)
		}
	case []any:
		for _, x := range t {
			walkImages(x, seen)
		}
	}
}

func pinnedImage(key, value string) (string, bool) {
	switch key {
	case "image":
	case "storageUri":
		var ok bool
		if value, ok = strings.CutPrefix(value, "oci://"); !ok {
			return "", false
		}
	default:
		return "", false
	}
	if !strings.Contains(value, "@sha256:") {
		return "", false
	}
	return value, true
}
