package modelcar

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"sort"
	"sync"
	"time"
)

// ModelRoot is where model files live in the image; KServe mounts the
// modelcar's /models into the serving container.
const ModelRoot = "models"

// writeTar writes a layer holding files under ModelRoot, with every parent
// directory as an explicit entry, in one pass, and nothing that depends on
// the machine: sorted paths, one fixed mtime, uid/gid 0 and no names,
// modes a=rX (readable by any UID, as OpenShift's random UIDs need).
//
// When sums is not nil it receives each file's own SHA-256 (hex), computed
// in the same pass, for the ML-BOM.
func writeTar(w io.Writer, files []File, mtime time.Time, sums []string) error {
	tw := tar.NewWriter(w)
	mtime = mtime.UTC().Truncate(time.Second)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(path.Join(ModelRoot, f.Rel)); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	type entry struct {
		name string
		file int // index into files, -1 for a directory
	}
	entries := make([]entry, 0, len(dirs)+len(files))
	for d := range dirs {
		entries = append(entries, entry{name: d, file: -1})
	}
	for i := range files {
		entries = append(entries, entry{name: path.Join(ModelRoot, files[i].Rel), file: i})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	for _, e := range entries {
		if e.file < 0 {
			if err := writeEntry(tw, e.name, nil, mtime, nil); err != nil {
				return err
			}
			continue
		}
		var h hash.Hash
		if sums != nil {
			h = sha256.New()
		}
		if err := writeEntry(tw, e.name, &files[e.file], mtime, h); err != nil {
			return err
		}
		if h != nil {
			sums[e.file] = hex.EncodeToString(h.Sum(nil))
		}
	}
	return tw.Close()
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func writeEntry(tw *tar.Writer, name string, f *File, mtime time.Time, sum hash.Hash) error {
	hdr := &tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o555, ModTime: mtime}
	if f != nil {
		hdr = &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o444, Size: f.Size, ModTime: mtime}
		if f.Exec {
			hdr.Mode = 0o555
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("tar header %s: %w", name, err)
	}
	if f == nil {
		return nil
	}
	fh, err := os.Open(f.Abs)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Rel, err)
	}
	defer fh.Close()
	// Exactly Size bytes: a file that grew or shrank since it was listed
	// fails the build instead of producing a layer that lies.
	var dst io.Writer = tw
	if sum != nil {
		dst = io.MultiWriter(tw, sum)
	}
	// 256 KiB at a time, not io.Copy's 32 KiB: a weight shard is hundreds of
	// MiB, and each chunk crosses a pipe and a socket when it is streamed.
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	n, err := io.CopyBuffer(struct{ io.Writer }{dst}, io.LimitReader(fh, f.Size), *buf)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Rel, err)
	}
	if n != f.Size {
		return fmt.Errorf("%s: changed while building (read %d of %d bytes)", f.Rel, n, f.Size)
	}
	return nil
}
