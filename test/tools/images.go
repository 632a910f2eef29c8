package tools

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxBinary is where Debian's busybox-static package puts its binary.
// It is static, so it runs in an image without a libc.
const BusyboxBinary = "/bin/busybox"

// The users of the base image. 65532 is the uid distroless and ko's
// default bases call "nonroot"; a step that sets runAsNonRoot finds it.
const (
	passwdFile = "root:x:0:0:root:/root:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh\n"
	groupFile = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
)

// busyboxImage builds the shell base image from the host's busybox-static:
// one uncompressed layer with the binary, a symlink per applet (sh, ls,
// sleep, ...), /etc/passwd and a world-writable /tmp. The layer is
// deterministic (fixed times and owners, sorted entries), so the same
// busybox gives the same digest on every run and machine, which is what the
// image cache is keyed by.
func busyboxImage() (v1.Image, error) {
	bin, err := os.ReadFile(BusyboxBinary)
	if err != nil {
		return nil, fmt.Errorf("read busybox (Debian package busybox-static; run hack/deps.sh): %w", err)
	}
	if err := checkStatic(bin); err != nil {
		return nil, err
	}
	applets, err := busyboxApplets()
	if err != nil {
		return nil, err
	}
	layer, err := busyboxLayer(bin, applets)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(layer, types.OCIUncompressedLayer))
	if err != nil {
		return nil, fmt.Errorf("busybox image: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("busybox image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Cmd = []string{"sh"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("busybox image config: %w", err)
	}
	return img, nil
}

// checkStatic fails for a dynamically linked binary (one with an ELF
// interpreter): Debian's plain busybox package installs one at the same
// path, and it cannot run in an image without a libc.
func checkStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("read %s: %w", BusyboxBinary, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; install Debian's busybox-static (hack/deps.sh)", BusyboxBinary)
		}
	}
	return nil
}

// pauseImage is the sandbox image of every pod: busybox whose entrypoint
// blocks forever. containerd kills it with SIGKILL, so it needs no signal
// handling.
func pauseImage(base v1.Image) (v1.Image, error) {
	img, err := mutate.Config(base, v1.Config{
		Env:        []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
		Entrypoint: []string{"/bin/sleep", "infinity"},
	})
	if err != nil {
		return nil, fmt.Errorf("pause image: %w", err)
	}
	return img, nil
}

// busyboxApplets lists the applet paths of the host's busybox, relative to
// the root ("bin/sh", "usr/bin/env", ...), sorted.
func busyboxApplets() ([]string, error) {
	out, err := exec.Command(BusyboxBinary, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("list busybox applets: %w", err)
	}
	var applets []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimPrefix(strings.TrimSpace(l), "/")
		// The binary itself goes to bin/busybox; skip odd names.
		if l == "" || l == "bin/busybox" || strings.Contains(l, "..") {
			continue
		}
		applets = append(applets, l)
	}
	sort.Strings(applets)
	if len(applets) == 0 {
		return nil, fmt.Errorf("busybox lists no applets")
	}
	return applets, nil
}

// busyboxLayer writes the layer tar. Every directory is listed before what
// it holds, as some unpackers expect.
func busyboxLayer(bin []byte, applets []string) ([]byte, error) {
	dirs := map[string]bool{"bin": true, "etc": true, "root": true, "tmp": true, "home": true, "home/nonroot": true}
	for _, a := range applets {
		for d := path.Dir(a); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	type entry struct {
		hdr  tar.Header
		data []byte
	}
	var entries []entry
	for d := range dirs {
		mode, uid := int64(0o755), 0
		switch d {
		case "tmp":
			mode = 0o1777
		case "root":
			mode = 0o700
		case "home/nonroot":
			uid = 65532
		}
		entries = append(entries, entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, Uid: uid, Gid: uid}})
	}
	entries = append(entries,
		entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755}, data: bin},
		entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644}, data: []byte(passwdFile)},
		entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "etc/group", Mode: 0o644}, data: []byte(groupFile)},
	)
	for _, a := range applets {
		entries = append(entries, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: a, Linkname: "/bin/busybox", Mode: 0o777}})
	}
	// Sorted by name, a directory "x/" comes before "x/..." entries.
	sort.Slice(entries, func(i, j int) bool { return entries[i].hdr.Name < entries[j].hdr.Name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.data))
		h.ModTime = time.Unix(0, 0)
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("busybox layer: %w", err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("busybox layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("busybox layer: %w", err)
	}
	return buf.Bytes(), nil
}

// koCacheDir is where images built with ko onto base are cached: keyed by
// what they are (name and version), ko's version and the base's digest.
func koCacheDir(what string, base v1.Image) (string, error) {
	d, err := base.Digest()
	if err != nil {
		return "", fmt.Errorf("base digest: %w", err)
	}
	root, err := CacheRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "images", fmt.Sprintf("%s-ko-%s-base-%s", what, KoVersion, d.Hex[:12])), nil
}

// cachedLayout returns the named images of the OCI layout at dir, running
// build to make the layout first when it is missing. The build runs under
// the tool cache's lock, and the layout is read again once the lock is
// held: another process may have built it meanwhile.
func cachedLayout(ctx context.Context, log io.Writer, dir string, names []string, build func() error) (map[string]v1.Image, error) {
	if imgs, err := readImageLayout(dir, names); err == nil {
		return imgs, nil
	}
	root, err := CacheRoot()
	if err != nil {
		return nil, err
	}
	unlock, err := lockFile(ctx, filepath.Join(root, ".lock"), log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if imgs, err := readImageLayout(dir, names); err == nil {
		return imgs, nil
	}
	if err := build(); err != nil {
		return nil, err
	}
	return readImageLayout(dir, names)
}
