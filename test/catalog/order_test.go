package catalog

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
)

// TestProvenanceFirstFails edits the real model-release pipelines the
// ways that would let a gate attest while Chains still writes, and wants
// each refused, naming the gate.
func TestProvenanceFirstFails(t *testing.T) {
	noProvenance := func(p *v1.Pipeline) {
		for i := range p.Spec.Tasks {
			p.Spec.Tasks[i].RunAfter = slices.DeleteFunc(p.Spec.Tasks[i].RunAfter, func(s string) bool { return strings.HasPrefix(s, "provenance") })
		}
	}
	cases := []struct {
		version string
		edit    func(*v1.Pipeline)
		want    []string
	}{
		{"0.1", func(*v1.Pipeline) {}, nil},
		{"0.2", func(*v1.Pipeline) {}, nil},
		{"0.1", noProvenance, []string{"(scan)", "(check)"}},
		{"0.2", noProvenance, []string{"(scan)", "(scan-pod)", "(check)", "(check-pod)", "(deploy-check)", "(deploy-check-pod)"}},
		// The pod gates would run after a VerifyImage that is skipped
		// whenever they run.
		{"0.2", func(p *v1.Pipeline) {
			custom := v1.WhenExpressions{{Input: "$(params.gates)", Operator: "in", Values: []string{"custom"}}}
			for i := range p.Spec.Tasks {
				if p.Spec.Tasks[i].Name == "provenance-pod" {
					p.Spec.Tasks[i].When = custom
				}
			}
		}, []string{"(scan-pod)", "(check-pod)", "(deploy-check-pod)"}},
		// The pod gates referenced through the bundles resolver are
		// still gates that attest.
		{"0.2", func(p *v1.Pipeline) {
			noProvenance(p)
			for i := range p.Spec.Tasks {
				if ref := p.Spec.Tasks[i].TaskRef; ref != nil && ref.Name == "acs-image-scan" {
					ref.Name, ref.ResolverRef = "", v1.ResolverRef{Resolver: "bundles", Params: v1.Params{
						{Name: "bundle", Value: *v1.NewStructuredValues("registry.example.com/tasks/acs-image-scan:0.1")},
						{Name: "name", Value: *v1.NewStructuredValues("acs-image-scan")},
						{Name: "kind", Value: *v1.NewStructuredValues("task")}}}
				}
			}
		}, []string{"(scan)", "(scan-pod)", "(check)", "(check-pod)", "(deploy-check)", "(deploy-check-pod)"}},
		// A VerifyImage that checks only the signature does not wait for
		// Chains' provenance.
		{"0.1", func(p *v1.Pipeline) {
			for i := range p.Spec.Tasks {
				if p.Spec.Tasks[i].Name == "provenance" {
					p.Spec.Tasks[i].Params = slices.DeleteFunc(p.Spec.Tasks[i].Params, func(p v1.Param) bool { return p.Name == "build-task" })
				}
			}
		}, []string{"(scan)", "(check)"}},
	}
	for _, c := range cases {
		path := filepath.Join("pipelines", "model-release", c.version, "model-release.yaml")
		data, err := os.ReadFile(filepath.Join(repoRoot(t), path))
		if err != nil {
			t.Fatal(err)
		}
		res, err := parseResource(data, "Pipeline")
		if err != nil {
			t.Fatal(err)
		}
		p := res.(*v1.Pipeline)
		c.edit(p)
		var got []string
		for _, err := range checkProvenanceFirst(p, path) {
			got = append(got, err.Error())
		}
		all := strings.Join(got, "\n")
		if len(got) != len(c.want) {
			t.Errorf("%s: %d errors, want %d %v:\n%s", c.version, len(got), len(c.want), c.want, all)
		}
		for _, w := range c.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: no error names %s:\n%s", c.version, w, all)
			}
		}
	}
}
