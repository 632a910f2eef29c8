package modelcar

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path"
	"sort"
	"time"
)

// ModelRoot is where model files live in the image; KServe mounts the
// modelcar's /models into the serving container.
const ModelRoot = "models"

// segment is one piece of a layer's tar stream: literal bytes (headers,
// padding, the end-of-archive blocks), or the contents of one model file,
// which are never copied into the layout and can go from the page cache to
// the socket without passing through user space.
type segment struct {
	data []byte
	file int // index into the layer's files; -1 for literal bytes
}

// layout lays out the tar of a layer holding files under ModelRoot, with
// every parent directory as an explicit entry, and nothing that depends on
// the machine: sorted paths, one fixed mtime, uid/gid 0 and no names, modes
// a=rX (readable by any UID, as OpenShift's random UIDs need). The bytes are
// exactly what archive/tar writes for those entries; only the headers are
// held in memory, so the layer's size is known before a byte of a file is
// read.
func layout(files []File, mtime time.Time) ([]segment, int64, error) {
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

	var segs []segment
	var size int64
	var literal bytes.Buffer
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name + "/", Typeflag: tar.TypeDir, Mode: 0o555, ModTime: mtime}
		if e.file >= 0 {
			f := files[e.file]
			hdr = &tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o444, Size: f.Size, ModTime: mtime}
			if f.Exec {
				hdr.Mode = 0o555
			}
		}
		// A fresh writer per header: archive/tar writes a header (with
		// any PAX records) straight to its writer and keeps no state that
		// would change the next one.
		if err := tar.NewWriter(&literal).WriteHeader(hdr); err != nil {
			return nil, 0, fmt.Errorf("tar header %s: %w", e.name, err)
		}
		if e.file < 0 || hdr.Size == 0 {
			continue
		}
		size += int64(literal.Len()) + hdr.Size
		segs = append(segs, segment{data: bytes.Clone(literal.Bytes()), file: -1}, segment{file: e.file})
		literal.Reset()
		literal.Write(make([]byte, (blockSize-hdr.Size%blockSize)%blockSize))
	}
	literal.Write(make([]byte, 2*blockSize)) // the end-of-archive marker
	size += int64(literal.Len())
	segs = append(segs, segment{data: literal.Bytes(), file: -1})
	return segs, size, nil
}

const blockSize = 512
