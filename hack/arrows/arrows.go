// Package arrows holds the import rules of the house (see the layout in
// the README): engines never know who calls them, one door never leans on
// the other, I/O never decides, and nothing shipped imports the tests.
// Its test checks them against `go list`, as go-containerregistry's
// depcheck does for crane.
package arrows

import "strings"

// Module is the import path of the modelguard module.
const Module = "github.com/modelguard/modelguard"

// Rule forbids every package From matches to depend, directly or not, on
// a package To matches; a Direct rule only forbids importing it.
type Rule struct {
	Why      string
	From, To func(pkg string) bool
	Direct   bool
}

func under(prefixes ...string) func(string) bool {
	return func(p string) bool {
		for _, pre := range prefixes {
			if p == pre || strings.HasPrefix(p, pre+"/") {
				return true
			}
		}
		return false
	}
}

var (
	kinds      = under(Module + "/pkg/kinds")
	reconciler = under(Module + "/pkg/reconciler")
	cli        = under(Module + "/pkg/cli")
	tests      = under(Module + "/test")
	shipped    = under(Module+"/pkg", Module+"/cmd")
	// An engine is any package under pkg/ that is not a door: a new
	// engine is covered the day it is written.
	engine = func(p string) bool {
		return under(Module+"/pkg")(p) && !kinds(p) && !reconciler(p) && !cli(p)
	}
	tektonReconcilers = under("github.com/tektoncd/pipeline/pkg/reconciler")
	// cosign's key-reference loaders link clients of GitHub, GitLab and
	// every KMS; our keys are PEM from Secrets, files or params.
	keyProviders = under("github.com/sigstore/cosign/v2/pkg/signature", "github.com/sigstore/cosign/v2/pkg/cosign/git", "github.com/sigstore/cosign/v2/pkg/cosign/kubernetes", "github.com/sigstore/sigstore/pkg/signature/kms")
)

// Rules are the arrows that must never exist.
var Rules = []Rule{
	{"an engine does not know who calls it", engine, func(p string) bool { return kinds(p) || reconciler(p) || cli(p) }, false},
	// Tekton's API packages import some of its reconciler packages
	// themselves; what an engine may not do is call them.
	{"an engine does not know Tekton's reconcilers", engine, tektonReconcilers, true},
	{"pkg/acs does I/O and decides nothing", under(Module + "/pkg/acs"), under(Module + "/pkg/gate"), false},
	{"one door never leans on the other", cli, func(p string) bool { return kinds(p) || reconciler(p) }, false},
	{"one door never leans on the other", func(p string) bool { return kinds(p) || reconciler(p) }, cli, false},
	{"what ships never imports the tests", shipped, tests, false},
	{"keys are PEM: no git host or KMS clients in what ships", shipped, keyProviders, false},
}

// Violation is one forbidden arrow found.
type Violation struct {
	Rule     Rule
	From, To string
}

// Graph is a module's packages: for each, what it imports and everything
// it depends on (go list's Imports and Deps).
type Graph map[string]Package

// Package is one node of the Graph.
type Package struct{ Imports, Deps []string }

// Check returns every violation in g.
func Check(g Graph) []Violation {
	var out []Violation
	for pkg, p := range g {
		for _, r := range Rules {
			if !r.From(pkg) {
				continue
			}
			ds := p.Deps
			if r.Direct {
				ds = p.Imports
			}
			for _, d := range ds {
				if r.To(d) {
					out = append(out, Violation{Rule: r, From: pkg, To: d})
				}
			}
		}
	}
	return out
}
