package tools

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"runtime"
	"strings"
)

// KoOptions describe one ko build.
type KoOptions struct {
	Ko          string   // the ko binary (Tools.Ko)
	Dir         string   // the Go module to build in (ko runs go there)
	ImportPaths []string // main packages, e.g. "./cmd/modelguard"
	// Repo is KO_DOCKER_REPO, e.g. "127.0.0.1:5000/modelguard": each image
	// is pushed as Repo/<last element of its import path>.
	Repo string
	// Base is the base image, by digest, in a loopback registry: ko's
	// default base is on a public registry, unreachable here.
	Base string
	Env  []string  // appended to os.Environ() (e.g. GOFLAGS)
	Log  io.Writer // ko's output; nil discards it
	// Platforms to build, e.g. "linux/arm64"; none means linux on this
	// machine's architecture. More than one makes an image index, and
	// the base must be an index that has each.
	Platforms []string
	// Tag is pushed besides the digest ("" → ko's default, latest); a tag
	// other than latest also appears in the printed references
	// (repo/name:tag@sha256:...).
	Tag string
	// Secure pushes over HTTPS only; by default a plain-HTTP registry is
	// allowed (--insecure-registry), as the test registries are.
	Secure bool
}

// KoBuild builds and pushes the images of opts.ImportPaths with ko. It
// returns the pushed references by digest, in the order of ImportPaths.
// No SBOM is made.
func KoBuild(ctx context.Context, opts KoOptions) ([]string, error) {
	if opts.Ko == "" || opts.Repo == "" || opts.Base == "" || len(opts.ImportPaths) == 0 {
		return nil, fmt.Errorf("ko build: Ko, Repo, Base and ImportPaths are required")
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	platforms := opts.Platforms
	if len(platforms) == 0 {
		platforms = []string{"linux/" + runtime.GOARCH}
	}
	args := []string{"build", "--base-import-paths", "--sbom=none", "--platform=" + strings.Join(platforms, ",")}
	if !opts.Secure {
		args = append(args, "--insecure-registry")
	}
	if opts.Tag != "" {
		args = append(args, "--tags="+opts.Tag)
	}
	args = append(args, opts.ImportPaths...)
	cmd := exec.CommandContext(ctx, opts.Ko, args...)
	cmd.Dir = opts.Dir
	env := os.Environ()
	if os.Getenv("MODELGUARD_VERSION") == "" {
		// .ko.yaml stamps it, and ko's templates refuse a missing key;
		// Env (a release's version) still wins, coming last.
		env = append(env, "MODELGUARD_VERSION=devel")
	}
	cmd.Env = append(env, opts.Env...)
	// Set last: they must win over the caller's environment.
	cmd.Env = append(cmd.Env, "KO_DOCKER_REPO="+opts.Repo, "KO_DEFAULTBASEIMAGE="+opts.Base)
	var stdout bytes.Buffer
	w := newPrefixWriter(log, "  ko| ")
	defer w.Flush()
	cmd.Stdout = io.MultiWriter(&stdout, w)
	cmd.Stderr = w
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ko build %s (in %s): %w", strings.Join(opts.ImportPaths, " "), opts.Dir, err)
	}
	return koRefs(stdout.String(), opts.Repo, opts.ImportPaths)
}

// koRefs matches the references ko printed (one per line, in no particular
// order, repo/name[:tag]@sha256:...) to the import paths by image name.
func koRefs(stdout, repo string, importPaths []string) ([]string, error) {
	byRepo := map[string]string{}
	for _, l := range strings.Split(stdout, "\n") {
		l = strings.TrimSpace(l)
		if r, _, ok := strings.Cut(l, "@sha256:"); ok {
			// A tag follows the last "/"; a ":" before it is a port.
			if i := strings.LastIndex(r, ":"); i > strings.LastIndex(r, "/") {
				r = r[:i]
			}
			byRepo[r] = l
		}
	}
	refs := make([]string, len(importPaths))
	for i, p := range importPaths {
		want := repo + "/" + path.Base(p)
		ref, ok := byRepo[want]
		if !ok {
			return nil, fmt.Errorf("ko printed no reference for %s (want %s@sha256:...); output:\n%s", p, want, stdout)
		}
		refs[i] = ref
	}
	return refs, nil
}
