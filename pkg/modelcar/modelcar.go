// Package modelcar makes model-serving OCI images ("modelcars"): model files
// under /models on a base image, one uncompressed layer per large file,
// written as deterministic tars so the same inputs give the same digest on
// any machine, and pushed without a daemon or root.
package modelcar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	bounds "github.com/modelguard/modelguard/pkg/registry"
)

// Options describe one build.
type Options struct {
	ModelDir string
	// Within is the directory the model must lie inside, e.g. the Task's
	// workspace: a ModelDir that resolves outside it, or a symlink that
	// leads out of it, is refused. "" means ModelDir itself.
	Within string
	// Base must be pinned by digest (repo@sha256:...) unless AllowTagBase:
	// a tag can move, and the image would no longer be reproducible.
	Base         string
	AllowTagBase bool
	// Target is where the image is pushed, usually repo:tag.
	Target  string
	Runtime Runtime
	// LayerThreshold: files at least this big get their own layer
	// (DefaultLayerThreshold when 0).
	LayerThreshold int64
	// Created is the one timestamp in the image: file mtimes, config and
	// the created annotation (SOURCE_DATE_EPOCH or the commit time).
	Created time.Time
	// Source, Revision, Version, Title, Licenses fill the OCI annotations
	// org.opencontainers.image.*; empty ones are left out.
	Source, Revision, Version, Title, Licenses string
	// CacheDir remembers layer digests between builds ("" disables).
	CacheDir string
	// BOMPath, when set, receives the CycloneDX ML-BOM before the push: if
	// it cannot be written, nothing is pushed.
	BOMPath string
	// Transport carries every request to the registries (default
	// http.DefaultTransport). Credentials come from the docker config
	// keychain, as docker, podman and Tekton's credential init use.
	Transport http.RoundTripper
}

// Result is what a build produced, in the names Tekton Chains reads.
type Result struct {
	ImageURL    string      `json:"IMAGE_URL"`    // repo:tag as pushed
	ImageDigest string      `json:"IMAGE_DIGEST"` // sha256:...
	StorageURI  string      `json:"storageUri"`   // oci://repo@sha256:... for an InferenceService
	Layers      []LayerInfo `json:"layers"`
}

// LayerInfo describes one model layer.
type LayerInfo struct {
	Digest string   `json:"digest"`
	Size   int64    `json:"size"`
	Files  []string `json:"files"`
	Cached bool     `json:"digestFromCache"`
}

// Build collects, checks, assembles and pushes a modelcar image. The
// manifest goes last, after every blob: a failure anywhere leaves the
// target tag as it was.
func Build(ctx context.Context, o Options) (*Result, error) {
	target, base, err := o.refs()
	if err != nil {
		return nil, err
	}
	m, err := OpenModel(o.ModelDir, o.Within)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if err := CheckLayout(o.Runtime, m.Files); err != nil {
		return nil, err
	}
	rt := o.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	// The base's registry chooses what it answers: manifests are capped as
	// they are read, and the config (read into memory) by its declared
	// size, which go-containerregistry then holds the blob to.
	capped := bounds.Transport(rt, bounds.Bounds{MaxManifestBytes: bounds.MaxManifestBytes})
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithJobs(4), remote.WithTransport(capped)}
	baseImg, err := remote.Image(base, ropts...)
	if err == nil {
		err = checkBase(baseImg)
	}
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", base, err)
	}
	baseDigest, err := baseImg.Digest()
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", base, err)
	}
	layers, err := planLayers(m, o.threshold(), o.Created)
	if err != nil {
		return nil, err
	}
	repo := target.Context()
	reg, err := newRegistry(ctx, repo, authn.DefaultKeychain, rt)
	if err != nil {
		return nil, err
	}
	// Blobs without a tag are invisible; the tag moves only with the
	// manifest, last.
	cachedLayers, err := uploadLayers(ctx, reg, layers, digestCache{dir: o.CacheDir, fileSums: o.BOMPath != ""})
	if err != nil {
		return nil, err
	}
	img, err := assemble(baseImg, layers, o.annotations(base, baseDigest))
	if err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	if o.BOMPath != "" {
		if err := o.writeBOM(layers, repo.Name()+"@"+digest.String(), base.Context().Name()+"@"+baseDigest.String()); err != nil {
			return nil, err
		}
	}
	// The model layers are in the registry already (remote.Write finds them
	// with a HEAD); this pushes the config, the base layers (mounted from
	// the base's repository where the registry allows) and the manifest.
	if err := remote.Write(target, img, ropts...); err != nil {
		return nil, fmt.Errorf("push %s: %w", target, err)
	}
	res := &Result{ImageURL: target.String(), ImageDigest: digest.String(), StorageURI: "oci://" + repo.Name() + "@" + digest.String()}
	for i, l := range layers {
		info := LayerInfo{Digest: l.digest.String(), Size: l.size, Cached: cachedLayers[i]}
		for _, f := range l.files {
			info.Files = append(info.Files, f.Rel)
		}
		res.Layers = append(res.Layers, info)
	}
	return res, nil
}

// maxBaseLayers bounds a base image's layers (Docker and containerd refuse
// more than 127; OCI images rarely have more than a few dozen).
const maxBaseLayers = 256

// checkBase refuses a base image whose manifest claims a config or a layer
// list no real base has, before anything reads the config.
func checkBase(img v1.Image) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	switch {
	case m.Config.Size > bounds.MaxConfigBytes || m.Config.Size < 0:
		return fmt.Errorf("its config claims %d bytes, more than the %d a base image's config may have: %w", m.Config.Size, bounds.MaxConfigBytes, bounds.ErrTooLarge)
	case len(m.Layers) > maxBaseLayers:
		return fmt.Errorf("it has %d layers, more than %d: %w", len(m.Layers), maxBaseLayers, bounds.ErrTooLarge)
	}
	return nil
}

func (o Options) refs() (target name.Reference, base name.Reference, err error) {
	if o.Target == "" {
		return nil, nil, errors.New("target image reference is required")
	}
	if target, err = name.ParseReference(o.Target); err != nil {
		return nil, nil, fmt.Errorf("target %q: %w", o.Target, err)
	}
	if o.Base == "" {
		return nil, nil, errors.New("base image is required (pinned by digest: repo@sha256:...)")
	}
	if base, err = name.ParseReference(o.Base); err != nil {
		return nil, nil, fmt.Errorf("base %q: %w", o.Base, err)
	}
	if _, pinned := base.(name.Digest); !pinned && !o.AllowTagBase {
		return nil, nil, fmt.Errorf("base %q is a tag, which can move under you; pin it by digest (repo@sha256:...) or allow tags explicitly", o.Base)
	}
	return target, base, nil
}

func (o Options) threshold() int64 {
	if o.LayerThreshold > 0 {
		return o.LayerThreshold
	}
	return DefaultLayerThreshold
}

// uploadLayers puts each model layer in the registry, reading each byte
// of the model at most once into user space, to hash it:
//
//   - a layer whose digest the cache knows is offered HEAD first; if the
//     registry lacks it, it is sent without being read here at all (the
//     registry checks it against the digest; a stale entry it refuses is
//     sent again, hashed this time);
//   - when the cache knows some of the model's layers but not others, the
//     unknown ones have most likely just changed, so the registry cannot
//     have them: each is hashed while it is sent, in one pass;
//   - on a machine that has not built this model before, nothing is known:
//     each layer is hashed first, because the registry may have it
//     already, and sent only if it does not.
//
// Hashing takes a CPU slot (one per core); layers go concurrently, so
// hashing one shard overlaps the registry taking another.
func uploadLayers(ctx context.Context, reg *registry, layers []*tarLayer, cache digestCache) ([]bool, error) {
	fromCache := make([]bool, len(layers))
	anyKnown := false
	for i, l := range layers {
		fromCache[i] = cache.load(l)
		anyKnown = anyKnown || fromCache[i]
	}
	errs := make([]error, len(layers))
	cpu := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, l := range layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := uploadLayer(ctx, reg, l, fromCache[i], anyKnown, cache, cpu); err != nil {
				what := "push layer"
				if l.digest.Hex != "" {
					what += " " + l.digest.String()
				}
				errs[i] = fmt.Errorf("%s (%s): %w", what, describeLayer(l), err)
			}
		}()
	}
	wg.Wait()
	return fromCache, errors.Join(errs...)
}

func uploadLayer(ctx context.Context, reg *registry, l *tarLayer, known, anyKnown bool, cache digestCache, cpu chan struct{}) error {
	if known {
		has, err := reg.has(ctx, l.digest)
		if err != nil || has {
			return err
		}
		if err = reg.upload(ctx, l, false, false); !digestRefused(err) {
			return err
		}
	}
	select {
	case cpu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	start := time.Now()
	stream := known || anyKnown
	var err error
	if stream {
		err = reg.upload(ctx, l, true, cache.fileSums)
	} else {
		err = l.hash(cache.fileSums)
	}
	<-cpu
	if err != nil {
		return err
	}
	cache.store(l, start)
	if stream {
		return nil
	}
	has, err := reg.has(ctx, l.digest)
	if err != nil || has {
		return err
	}
	return reg.upload(ctx, l, false, false)
}

// The annotation each single-file layer carries, per the CNCF ModelPack
// spec, so tools can find a file's layer without unpacking.
const annotationFilepath = "org.cncf.model.filepath"

func assemble(base v1.Image, layers []*tarLayer, manifestAnnotations map[string]string) (v1.Image, error) {
	var adds []mutate.Addendum
	for _, l := range layers {
		add := mutate.Addendum{
			Layer:     l,
			MediaType: types.OCIUncompressedLayer,
			History:   v1.History{Created: v1.Time{Time: l.mtime}, CreatedBy: "modelguard build", Comment: describeLayer(l)},
		}
		if len(l.files) == 1 {
			add.Annotations = map[string]string{annotationFilepath: path.Join("/", ModelRoot, l.files[0].Rel)}
		}
		adds = append(adds, add)
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, fmt.Errorf("append model layers: %w", err)
	}
	if len(layers) > 0 {
		if img, err = mutate.CreatedAt(img, v1.Time{Time: layers[0].mtime}); err != nil {
			return nil, fmt.Errorf("set created: %w", err)
		}
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	out, ok := mutate.Annotations(img, manifestAnnotations).(v1.Image)
	if !ok {
		return nil, errors.New("annotate image: unexpected type")
	}
	return out, nil
}

func describeLayer(l *tarLayer) string {
	if len(l.files) == 1 {
		return l.files[0].Rel
	}
	return fmt.Sprintf("%d small files", len(l.files))
}

func (o Options) annotations(base name.Reference, baseDigest v1.Hash) map[string]string {
	a := map[string]string{
		"org.opencontainers.image.created":     o.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.base.name":   base.Context().Name(),
		"org.opencontainers.image.base.digest": baseDigest.String(),
	}
	for k, v := range map[string]string{"source": o.Source, "revision": o.Revision, "version": o.Version, "title": o.Title, "licenses": o.Licenses} {
		if v != "" {
			a["org.opencontainers.image."+k] = v
		}
	}
	if tag, ok := base.(name.Tag); ok {
		a["org.opencontainers.image.base.name"] = tag.String()
	}
	return a
}

func (o Options) writeBOM(layers []*tarLayer, image, base string) error {
	// Each file's own SHA-256 was taken while its layer was hashed (or
	// came from the digest cache): no extra read of the weights.
	var files []BOMFile
	for _, l := range layers {
		for i, f := range l.files {
			files = append(files, BOMFile{Path: path.Join(ModelRoot, f.Rel), Size: f.Size, SHA256: l.fileSums[i]})
		}
	}
	title := o.Title
	if title == "" {
		title = strings.TrimSuffix(path.Base(o.ModelDir), "/")
	}
	var buf bytes.Buffer
	err := WriteMLBOM(&buf, BOMInput{ModelName: title, ModelVersion: o.Version, Runtime: string(o.Runtime), Files: files,
		Image: image, BaseImage: base, Source: o.Source, Revision: o.Revision, Licenses: o.Licenses, Created: o.Created})
	if err != nil {
		return fmt.Errorf("ML-BOM: %w", err)
	}
	if err := os.WriteFile(o.BOMPath, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write ML-BOM: %w", err)
	}
	return nil
}
