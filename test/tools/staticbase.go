package tools

import (
	"archive/tar"
	"bytes"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ReleasePlatforms are the platforms a release builds for.
var ReleasePlatforms = []string{"linux/amd64", "linux/arm64"}

// NonRootUser is the user of StaticBase, "nonroot" as distroless calls it.
const NonRootUser = "65532"

// StaticBase is the base image of the release's images in tests: an index
// of one image per ReleasePlatforms entry, each holding what a static Go
// binary needs from its base and nothing else (no shell, no libc):
// /etc/passwd and /etc/group naming nonroot, /home/nonroot, a /tmp anyone
// may write, USER 65532. That is what distroless "static:nonroot" and
// Chainguard's static image are, minus CA certificates and time zones,
// which nothing here needs. It is made from constants, so it has the same
// digest on every machine, and it needs no binary of another architecture
// (the busybox base is this machine's architecture only).
func StaticBase() (v1.ImageIndex, error) {
	layer, err := staticLayer()
	if err != nil {
		return nil, err
	}
	var adds []mutate.IndexAddendum
	for _, p := range ReleasePlatforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			return nil, fmt.Errorf("static base: %w", err)
		}
		img, err := mutate.AppendLayers(empty.Image, static.NewLayer(layer, types.OCIUncompressedLayer))
		if err != nil {
			return nil, fmt.Errorf("static base: %w", err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("static base config: %w", err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
		cf.Config.User = NonRootUser
		cf.Config.WorkingDir = "/home/nonroot"
		cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/nonroot"}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return nil, fmt.Errorf("static base config: %w", err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(idx, adds...), nil
}

// staticLayer is the one layer of StaticBase: sorted entries, epoch times,
// root-owned but for nonroot's home.
func staticLayer() ([]byte, error) {
	entries := []tar.Header{
		{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755},
		{Typeflag: tar.TypeReg, Name: "etc/group", Mode: 0o644, Size: int64(len(groupFile))},
		{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644, Size: int64(len(passwdFile))},
		{Typeflag: tar.TypeDir, Name: "home/", Mode: 0o755},
		{Typeflag: tar.TypeDir, Name: "home/nonroot/", Mode: 0o700, Uid: 65532, Gid: 65532},
		{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777},
	}
	data := map[string]string{"etc/group": groupFile, "etc/passwd": passwdFile}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		h.ModTime = time.Unix(0, 0)
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("static base layer: %w", err)
		}
		if _, err := tw.Write([]byte(data[h.Name])); err != nil {
			return nil, fmt.Errorf("static base layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("static base layer: %w", err)
	}
	return buf.Bytes(), nil
}
