// Package catalog lints tasks/ and pipelines/ by the Tekton catalog's
// rules, without a cluster: <kind>s/<name>/<version>/<name>.yaml next to a
// README.md that documents every param, result and workspace and links a
// working sample; the version label, the hub annotations (minVersion,
// categories, tags, platforms, displayName); no params interpolated into
// scripts; step images pinned by digest; a locked-down step
// securityContext (non-root, read-only root filesystem); no result that
// nothing writes; Tekton's own defaulting and validation (the pipeline
// module the project pins); and an Artifact Hub repository file per kind.
//
// Lint runs on a checkout (Source) and on a release's output (Released),
// where the ko:// image default of a checkout must have become a digest.
package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Mode says what tree Lint looks at.
type Mode int

const (
	// Source is a checkout: a step image may default to the ko://
	// reference of this module's CLI, which a release (and ko resolve)
	// replaces with the image by digest.
	Source Mode = iota
	// Released is a release's output (hack/release): every image default
	// is pinned by digest.
	Released
)

// koCLI is the one ko:// default a checkout may carry.
const koCLI = "ko://github.com/modelguard/modelguard/cmd/modelguard"

// Kinds are the catalog's kinds and their top-level directories.
var Kinds = []struct{ Kind, Dir string }{{"Task", "tasks"}, {"Pipeline", "pipelines"}}

// Lint lints every <kind>s/<name>/<version>/ directory under root and
// returns each problem found, naming its file and field. A tree with no
// Task or Pipeline is a problem too.
func Lint(root string, mode Mode) []error {
	var errs []error
	found := 0
	for _, k := range Kinds {
		dirs, _ := filepath.Glob(filepath.Join(root, k.Dir, "*", "*"))
		for _, dir := range dirs {
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				continue
			}
			found++
			errs = append(errs, LintDir(root, dir, k.Kind, mode)...)
		}
		if mode == Source {
			errs = append(errs, checkArtifactHubRepo(root, k.Dir)...)
		}
	}
	if found == 0 {
		errs = append(errs, fmt.Errorf("no tasks/*/*/ or pipelines/*/*/ directories under %s", root))
	}
	return errs
}

// LintDir checks the layout of one <kind>s/<name>/<version>/ directory,
// its README (in a checkout; a release carries the YAML only) and the
// resource in it.
func LintDir(root, dir, kind string, mode Mode) []error {
	name := filepath.Base(filepath.Dir(dir))
	rel, _ := filepath.Rel(root, filepath.Join(dir, name+".yaml"))
	var errs []error
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return append(errs, fmt.Errorf("%s: want the %s at <%ss>/<name>/<version>/<name>.yaml: %v", rel, kind, strings.ToLower(kind), err))
	}
	res, err := parseResource(data, kind)
	if err != nil {
		return append(errs, fmt.Errorf("%s: not a strict tekton.dev/v1 %s: %v", rel, kind, err))
	}
	errs = append(errs, checkResource(res, rel, mode)...)
	if mode == Source {
		errs = append(errs, checkReadme(dir, rel, res)...)
	}
	return errs
}
