package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/test/tools"
	"sigs.k8s.io/yaml"
)

// Options describe one release.
type Options struct {
	Version   string   // vMAJOR.MINOR.PATCH[-pre]
	Repo      string   // KO_DOCKER_REPO: images are Repo/controller, Repo/modelguard; bundles Repo/tasks/<name>, Repo/pipelines/<name>
	Base      string   // the images' base by digest; "" → .ko.yaml's defaultBaseImage
	Platforms []string // e.g. linux/amd64, linux/arm64
	Out       string   // where release.yaml and the rest are written
	Root      string   // the checkout
	// KeyFile is a cosign private key, Password its password. Empty: no
	// signing, and the release says so.
	KeyFile  string
	Password []byte
	// Signer signs instead of KeyFile.
	Signer Signer
	// Ko is the ko binary; "" builds it (tools.EnsureKo).
	Ko  string
	Log io.Writer
}

// Signer signs an image, index or bundle in the registry.
type Signer interface {
	// Sign signs ref (repo@sha256:...) and pushes the signature next to
	// it, as `cosign sign --key` does.
	Sign(ctx context.Context, ref string) error
}

// Result is what a release pushed, as digests.json records it.
type Result struct {
	Version string `json:"version"`
	// Images by command (controller, modelguard): repo/name:version@sha256:...
	Images map[string]string `json:"images"`
	// Bundles by catalog dir (tasks/<name>/<version>): repo/tasks/<name>:<version>@sha256:...
	Bundles map[string]string `json:"bundles"`
	// Signed says whether every image and bundle was signed.
	Signed bool `json:"signed"`
}

var versionRE = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// The commands a release builds, by ko:// reference.
var commands = []string{"controller", "modelguard"}

// The manifests a release writes, each a kustomization rendered with the
// images resolved: by tag and digest, or by digest only, which CRI-O
// (OpenShift's runtime) needs.
var manifests = []struct {
	file, what  string
	components  []string // kustomize Components under config/
	digestsOnly bool
}{
	{"release.yaml", "images by tag and digest", nil, false},
	{"release.notags.yaml", "images by digest only, for CRI-O", nil, true},
	{"release.openshift.yaml", "OpenShift: restricted-v2, trusted CA bundle, metrics over TLS", []string{"overlays/openshift"}, true},
}

// Run makes the release o describes.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	signer := o.Signer
	if signer == nil && o.KeyFile != "" {
		var err error
		if signer, err = keySigner(o.KeyFile, o.Password, insecureHost(o.Repo)); err != nil {
			return nil, err
		}
	}
	if err := checkBase(ctx, o.Base, o.Platforms); err != nil {
		return nil, err
	}
	images, err := o.buildImages(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Version: o.Version, Images: map[string]string{}, Bundles: map[string]string{}}
	tagged, digestOnly := map[string]string{}, map[string]string{}
	for i, c := range commands {
		ko := "ko://" + modulePath + "/cmd/" + c
		res.Images[c] = images[i]
		tagged[ko] = images[i]
		digestOnly[ko] = untagged(images[i])
	}
	files := map[string][]byte{}
	for _, m := range manifests {
		rendered, err := renderRelease(o.Root, m.components, o.Version)
		if err != nil {
			return nil, err
		}
		refs := tagged
		if m.digestsOnly {
			refs = digestOnly
		}
		resolved, err := resolveKo(rendered, refs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.file, err)
		}
		files[m.file] = append([]byte("# modelguard "+o.Version+" ("+m.what+"): kubectl apply -f "+m.file+"\n"), resolved...)
	}
	catalog, err := catalogFiles(o.Root)
	if err != nil {
		return nil, err
	}
	var toSign []string
	for _, img := range res.Images {
		toSign = append(toSign, untagged(img))
	}
	for _, rel := range catalog {
		src, err := os.ReadFile(filepath.Join(o.Root, rel))
		if err != nil {
			return nil, err
		}
		// Digests only: a step image is pulled by CRI-O too.
		resolved, err := resolveKo(src, digestOnly)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		files[rel] = resolved
		ref, err := o.pushBundle(ctx, rel, resolved)
		if err != nil {
			return nil, fmt.Errorf("bundle of %s: %w", rel, err)
		}
		res.Bundles[filepath.Dir(rel)] = ref
		toSign = append(toSign, untagged(ref))
	}
	if signer != nil {
		for _, ref := range toSign {
			if err := signer.Sign(ctx, ref); err != nil {
				return nil, fmt.Errorf("sign %s: %w", ref, err)
			}
		}
		res.Signed = true
	} else {
		fmt.Fprintln(o.Log, "release: WARNING: no -key (COSIGN_KEY): nothing is signed")
	}
	digests, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	files["digests.json"] = append(digests, '\n')
	if err := writeOut(o.Out, files); err != nil {
		return nil, err
	}
	return res, nil
}

// check validates the options before anything is built.
func (o *Options) check() error {
	if !versionRE.MatchString(o.Version) {
		return fmt.Errorf("version %q: want vMAJOR.MINOR.PATCH (VERSION=v0.1.0)", o.Version)
	}
	if o.Repo == "" {
		return errors.New("no registry: set KO_DOCKER_REPO (e.g. registry.example.com/modelguard)")
	}
	if _, err := name.NewRepository(o.Repo); err != nil {
		return fmt.Errorf("KO_DOCKER_REPO %q: %w", o.Repo, err)
	}
	if o.Base == "" {
		base, err := koDefaultBase(filepath.Join(o.Root, ".ko.yaml"))
		if err != nil {
			return err
		}
		o.Base = base
	}
	if _, err := name.NewDigest(o.Base); err != nil {
		return fmt.Errorf("base image %q is not pinned by digest (repo@sha256:...): a tag can move, and the release would not be reproducible", o.Base)
	}
	if len(o.Platforms) == 0 {
		return errors.New("no platforms")
	}
	for _, p := range o.Platforms {
		if !strings.HasPrefix(p, "linux/") {
			return fmt.Errorf("platform %q: only linux/<arch>", p)
		}
	}
	return nil
}

// koDefaultBase reads defaultBaseImage from .ko.yaml.
func koDefaultBase(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no base image given and %w", err)
	}
	var cfg struct {
		DefaultBaseImage string `json:"defaultBaseImage"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if cfg.DefaultBaseImage == "" {
		return "", fmt.Errorf("%s names no defaultBaseImage; set KO_DEFAULTBASEIMAGE", path)
	}
	return cfg.DefaultBaseImage, nil
}

// buildImages builds and pushes the commands' images with ko and returns
// their references (repo/name:version@sha256:...), in commands' order.
func (o *Options) buildImages(ctx context.Context) ([]string, error) {
	ko := o.Ko
	if ko == "" {
		var err error
		if ko, err = tools.EnsureKo(ctx, o.Log); err != nil {
			return nil, err
		}
	}
	var paths []string
	for _, c := range commands {
		paths = append(paths, "./cmd/"+c)
	}
	return tools.KoBuild(ctx, tools.KoOptions{
		Ko: ko, Dir: o.Root, ImportPaths: paths, Repo: o.Repo, Base: o.Base,
		Platforms: o.Platforms, Tag: o.Version, Secure: !insecureHost(o.Repo), Log: o.Log,
		// .ko.yaml stamps it into both binaries.
		Env: []string{"MODELGUARD_VERSION=" + o.Version},
	})
}

// pushBundle pushes the bundle of one catalog file (tasks/<name>/<ver>/
// <name>.yaml) as Repo/tasks/<name>, tagged with the catalog version and
// the release version, and returns it as repo:<catalog version>@digest.
func (o *Options) pushBundle(ctx context.Context, rel string, doc []byte) (string, error) {
	img, err := bundleImage(doc)
	if err != nil {
		return "", err
	}
	parts := strings.Split(filepath.ToSlash(rel), "/") // kinds, name, version, file
	repo := o.Repo + "/" + parts[0] + "/" + parts[1]
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	var first name.Tag
	for i, tag := range []string{parts[2], o.Version} {
		t, err := name.NewTag(repo+":"+tag, nameOpts(o.Repo)...)
		if err != nil {
			return "", err
		}
		if i == 0 {
			first = t
			err = remote.Write(t, img, opts...)
		} else {
			err = remote.Tag(t, img, opts...)
		}
		if err != nil {
			return "", fmt.Errorf("push %s: %w", t, err)
		}
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return first.String() + "@" + d.String(), nil
}

// untagged drops the tag of repo:tag@digest (repo@digest stays).
func untagged(ref string) string {
	d, err := name.NewDigest(ref)
	if err != nil {
		return ref
	}
	return d.Context().Name() + "@" + d.DigestStr()
}

// insecureHost reports whether the registry of repo may be plain HTTP: a
// loopback or private address, as go-containerregistry also assumes.
func insecureHost(repo string) bool {
	host := strings.SplitN(repo, "/", 2)[0]
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate())
}

func nameOpts(repo string) []name.Option {
	if insecureHost(repo) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// writeOut writes files (relative path → content) under dir, replacing a
// previous release written there and nothing else.
func writeOut(dir string, files map[string][]byte) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, "digests.json")); err != nil {
			return fmt.Errorf("output dir %s is not empty and holds no earlier release; not writing into it", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	for rel, data := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
