package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"
)

// sampleLink matches a Markdown link to a file under samples/.
var sampleLink = regexp.MustCompile(`\]\((samples/[A-Za-z0-9._-]+\.ya?ml)\)`)

// interface names: what a README must document.
type iface struct{ params, results, workspaces []string }

func interfaceOf(obj Resource) iface {
	var f iface
	switch r := obj.(type) {
	case *v1.Task:
		for _, p := range r.Spec.Params {
			f.params = append(f.params, p.Name)
		}
		for _, x := range r.Spec.Results {
			f.results = append(f.results, x.Name)
		}
		for _, w := range r.Spec.Workspaces {
			f.workspaces = append(f.workspaces, w.Name)
		}
	case *v1.Pipeline:
		for _, p := range r.Spec.Params {
			f.params = append(f.params, p.Name)
		}
		for _, x := range r.Spec.Results {
			f.results = append(f.results, x.Name)
		}
		for _, w := range r.Spec.Workspaces {
			f.workspaces = append(f.workspaces, w.Name)
		}
	}
	return f
}

// documented reports whether the README names n in code (`n`), or a
// family it belongs to (`fixable-*` covers fixable-critical).
func documented(readme, n string) bool {
	if strings.Contains(readme, "`"+n+"`") {
		return true
	}
	for i := strings.LastIndex(n, "-"); i > 0; i = strings.LastIndex(n[:i], "-") {
		if strings.Contains(readme, "`"+n[:i+1]+"*`") {
			return true
		}
	}
	return false
}

// checkReadme: README.md next to the resource names every param, result
// and workspace, and links a sample under samples/ that runs this very
// Task or Pipeline (TestSamples validates the samples with Tekton).
func checkReadme(dir, rel string, obj Resource) []error {
	readmeRel := filepath.Join(filepath.Dir(rel), "README.md")
	data, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		return []error{fmt.Errorf("%s: README.md is missing next to it", rel)}
	}
	readme := string(data)
	var errs []error
	f := interfaceOf(obj)
	for _, group := range []struct {
		what  string
		names []string
	}{{"param", f.params}, {"result", f.results}, {"workspace", f.workspaces}} {
		for _, n := range group.names {
			if !documented(readme, n) {
				errs = append(errs, fmt.Errorf("%s: does not document %s %q (write it as `%s`)", readmeRel, group.what, n, n))
			}
		}
	}
	links := sampleLink.FindAllStringSubmatch(readme, -1)
	if len(links) == 0 {
		return append(errs, fmt.Errorf("%s: links no example under samples/ (e.g. [samples/pipelinerun.yaml](samples/pipelinerun.yaml))", readmeRel))
	}
	runs := false
	for _, l := range links {
		sample, err := os.ReadFile(filepath.Join(dir, l[1]))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: links %s, which does not exist", readmeRel, l[1]))
			continue
		}
		runs = runs || refersTo(sample, obj.GetName())
	}
	if !runs {
		errs = append(errs, fmt.Errorf("%s: no linked sample runs %s %q", readmeRel, obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName()))
	}
	return errs
}

// refersTo reports whether a sample's YAML names the Task or Pipeline:
// taskRef/pipelineRef by name, or a resolver's name param.
func refersTo(sample []byte, name string) bool {
	for _, d := range Docs(sample) {
		var m any
		if yaml.Unmarshal(d, &m) == nil && mentions(m, name) {
			return true
		}
	}
	return false
}

// mentions walks a decoded document for a taskRef or pipelineRef that
// names name, directly or through a resolver's "name" param.
func mentions(v any, name string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if k == "taskRef" || k == "pipelineRef" {
				if ref, ok := val.(map[string]any); ok && refNames(ref, name) {
					return true
				}
			}
			if mentions(val, name) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if mentions(e, name) {
				return true
			}
		}
	}
	return false
}

func refNames(ref map[string]any, name string) bool {
	if ref["name"] == name {
		return true
	}
	params, _ := ref["params"].([]any)
	for _, p := range params {
		if pm, ok := p.(map[string]any); ok && pm["name"] == "name" && pm["value"] == name {
			return true
		}
	}
	return false
}

// checkArtifactHubRepo: <dir>/artifacthub-repo.yml, the one file Artifact
// Hub reads besides the annotations, names the repository's owners.
func checkArtifactHubRepo(root, dir string) []error {
	rel := filepath.Join(dir, "artifacthub-repo.yml")
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return []error{fmt.Errorf("%s is missing: Artifact Hub's repository metadata (owners)", rel)}
	}
	var repo struct {
		RepositoryID string `json:"repositoryID,omitempty"`
		Owners       []struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"owners"`
		Ignore []struct {
			Name    string `json:"name"`
			Version string `json:"version,omitempty"`
		} `json:"ignore,omitempty"`
	}
	if err := yaml.UnmarshalStrict(data, &repo); err != nil {
		return []error{fmt.Errorf("%s: %v", rel, err)}
	}
	if len(repo.Owners) == 0 {
		return []error{fmt.Errorf("%s: names no owners", rel)}
	}
	for i, o := range repo.Owners {
		if o.Name == "" || !strings.Contains(o.Email, "@") {
			return []error{fmt.Errorf("%s: owners[%d] needs a name and an email", rel, i)}
		}
	}
	return nil
}
