package tools

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/mod/modfile"
)

// Some modules (Tekton's chains, cli and triggers, KServe) replace or
// exclude dependencies in their go.mod, and a module's replace and exclude
// directives only apply when it is the main module: a plain wrapper that
// requires them resolves the originals, which do not build (or are not
// served). So the wrapper repeats them, read from the module's own go.mod
// rather than written down here, so a version bump brings its own.

// buildTkn builds tkn in a wrapper module that repeats the cli module's
// replace directives.
func (b *builder) buildTkn(ctx context.Context, t *Tools) error {
	fmt.Fprintf(b.log, "tools: building tkn %s (first run on this machine, ~2 min)\n", TknVersion)
	const cmd = "github.com/tektoncd/cli/cmd/tkn"
	dir, err := b.replacingWrapper(ctx, "tkn", "github.com/tektoncd/cli", TknVersion, nil, cmd)
	if err != nil {
		return err
	}
	// The version tkn prints; its Makefile stamps the same variable.
	flags := "-s -w -X github.com/tektoncd/cli/pkg/cmd/version.clientVersion=" + TknVersion
	return b.buildInto(ctx, dir, []string{"-ldflags", flags}, map[string]string{cmd: t.Tkn})
}

// replacingWrapper writes (under <root>/src/<name>-<version>) a module that
// requires module@version with module's own replace and exclude
// directives (and the extra replaces given), imports cmds from a tools
// file (if any; a main.go written there before serves as well) and is
// tidied; it returns its dir.
func (b *builder) replacingWrapper(ctx context.Context, name, module, version string, extra []string, cmds ...string) (string, error) {
	dir, err := b.wrapperDir(name + "-" + version)
	if err != nil {
		return "", err
	}
	head := "module modelguard.local/tools/" + name + "\n\ngo 1.26\n"
	if err := writeFile(dir, "go.mod", head); err != nil {
		return "", err
	}
	gomod, err := b.downloadGoMod(ctx, dir, module+"@"+version)
	if err != nil {
		return "", err
	}
	replaces, err := versionReplaces(gomod)
	if err != nil {
		return "", fmt.Errorf("go.mod of %s@%s: %w", module, version, err)
	}
	replaces = append(replaces, extra...)
	excludes, err := moduleExcludes(gomod)
	if err != nil {
		return "", fmt.Errorf("go.mod of %s@%s: %w", module, version, err)
	}
	var mod strings.Builder
	fmt.Fprintf(&mod, "%s\nrequire %s %s\n", head, module, version)
	for _, block := range []struct {
		verb  string
		lines []string
	}{{"replace", replaces}, {"exclude", excludes}} {
		if len(block.lines) == 0 {
			continue
		}
		fmt.Fprintf(&mod, "\n%s (\n", block.verb)
		for _, l := range block.lines {
			fmt.Fprintf(&mod, "\t%s\n", l)
		}
		mod.WriteString(")\n")
	}
	if err := writeFile(dir, "go.mod", mod.String()); err != nil {
		return "", err
	}
	if len(cmds) > 0 {
		var imports strings.Builder
		for _, c := range cmds {
			fmt.Fprintf(&imports, "\t_ %q\n", c)
		}
		if err := writeFile(dir, "tools.go", "//go:build tools\n\npackage tools\n\nimport (\n"+imports.String()+")\n"); err != nil {
			return "", err
		}
	}
	if err := b.goCmd(ctx, dir, "tidy", "mod", "tidy"); err != nil {
		return "", err
	}
	return dir, nil
}

// versionReplaces returns the replace directives of a go.mod that point at
// another module version ("old => new v1.2.3"), not at a local directory.
func versionReplaces(gomod []byte) ([]string, error) {
	// Parse, not ParseLax: the lax parser is for dependencies' go.mod
	// files and drops their replace directives, the very thing wanted.
	f, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range f.Replace {
		if r.New.Version == "" {
			continue // a local path: meaningless outside its repository
		}
		old := r.Old.Path
		if r.Old.Version != "" {
			old += " " + r.Old.Version
		}
		out = append(out, old+" => "+r.New.Path+" "+r.New.Version)
	}
	return out, nil
}

// moduleExcludes returns the exclude directives of a go.mod ("path
// version"). KServe excludes a grpc sub-module version that would
// otherwise be chosen and does not exist.
func moduleExcludes(gomod []byte) ([]string, error) {
	f, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range f.Exclude {
		out = append(out, e.Mod.Path+" "+e.Mod.Version)
	}
	return out, nil
}
