package modelcar

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultLayerThreshold: files at least this big get a layer of their own,
// so an unchanged shard keeps its digest and is never uploaded again.
const DefaultLayerThreshold = 16 << 20

// windowSize is how much of a file is mapped, hashed and sent at a time:
// big enough that mapping and syscalls cost nothing next to hashing, small
// enough to keep memory flat with a few layers at once.
const windowSize = 4 << 20

// tarLayer is an uncompressed layer made from model files. Weights do not
// compress, so gzip would only burn CPU; uncompressed also means digest ==
// diffID. The tar is generated from its layout each time it is read, so
// memory stays flat whatever the model size.
type tarLayer struct {
	model *Model
	files []File
	mtime time.Time
	segs  []segment
	size  int64 // known from the layout, before anything is read
	// digest is known once the layer was hashed or streamed, or from the
	// digest cache.
	digest v1.Hash
	// fileSums are the files' own SHA-256 (hex), for the ML-BOM; filled
	// with the digest.
	fileSums []string
}

var _ v1.Layer = (*tarLayer)(nil)

func (l *tarLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *tarLayer) DiffID() (v1.Hash, error) { return l.digest, nil }
func (l *tarLayer) Size() (int64, error)     { return l.size, nil }
func (l *tarLayer) MediaType() (types.MediaType, error) {
	return types.OCIUncompressedLayer, nil
}
func (l *tarLayer) Compressed() (io.ReadCloser, error)   { return l.Uncompressed() }
func (l *tarLayer) Uncompressed() (io.ReadCloser, error) { return l.reader(nil), nil }

// reader gives the layer's tar stream as a reader, hashing it into d when
// d is set: for go-containerregistry, tests, and transports this package
// cannot write to directly.
func (l *tarLayer) reader(d *digester) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(l.emit(pw, d)) }()
	return pr
}

// planLayers gives each file of at least threshold bytes its own layer and
// groups the rest into one, in path order.
func planLayers(m *Model, threshold int64, mtime time.Time) ([]*tarLayer, error) {
	var small []File
	var out []*tarLayer
	for _, f := range m.Files {
		if f.Size >= threshold {
			out = append(out, &tarLayer{model: m, files: []File{f}, mtime: mtime})
		} else {
			small = append(small, f)
		}
	}
	if len(small) > 0 {
		out = append([]*tarLayer{{model: m, files: small, mtime: mtime}}, out...)
	}
	for _, l := range out {
		var err error
		if l.segs, l.size, err = layout(l.files, l.mtime); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// digester hashes a layer as it is read: the layer's digest and, when an
// ML-BOM is wanted, each file's own SHA-256 in the same pass (which doubles
// the hashing, so it is only done when asked for).
type digester struct {
	layer hash.Hash
	files []hash.Hash // nil entries when file sums are not wanted
}

func newDigester(l *tarLayer, fileSums bool) *digester {
	d := &digester{layer: sha256.New(), files: make([]hash.Hash, len(l.files))}
	for i := range d.files {
		if fileSums {
			d.files[i] = sha256.New()
		}
	}
	return d
}

// finish records what was hashed as the layer's digest.
func (d *digester) finish(l *tarLayer) {
	l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(d.layer.Sum(nil))}
	l.fileSums = nil
	if d.files[0] != nil {
		l.fileSums = make([]string, len(d.files))
		for i, h := range d.files {
			l.fileSums[i] = hex.EncodeToString(h.Sum(nil))
		}
	}
}

// hash computes the layer's digest without sending it anywhere.
func (l *tarLayer) hash(fileSums bool) error {
	d := newDigester(l, fileSums)
	if err := l.emit(nil, d); err != nil {
		return err
	}
	d.finish(l)
	return nil
}

// fileError is a problem with a model file rather than with the registry
// or the network: retrying the upload cannot help.
type fileError struct{ err error }

func (e *fileError) Error() string { return e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// emit produces the layer's tar stream once: literal bytes are written to
// w, file contents are hashed into d (when not nil) from the page cache and
// sent to w. On a plain TCP connection file contents go by sendfile, from
// the page cache to the socket without a copy in user space; any other
// writer gets them straight from the mapping. w may be nil (hash only).
func (l *tarLayer) emit(w io.Writer, d *digester) error {
	for _, s := range l.segs {
		if s.file < 0 {
			if d != nil {
				d.layer.Write(s.data)
			}
			if w != nil {
				if _, err := w.Write(s.data); err != nil {
					return err
				}
			}
			continue
		}
		if err := l.emitFile(w, d, s.file); err != nil {
			return err
		}
	}
	return nil
}

func (l *tarLayer) emitFile(w io.Writer, d *digester, i int) error {
	f := &l.files[i]
	fh, err := l.model.open(f)
	if err != nil {
		return &fileError{err}
	}
	defer fh.Close()
	var sent int64
	if d == nil && w != nil {
		// The digest is known already and the registry checks it: the file
		// is sent without being read here (sendfile on a TCP socket).
		sent, err = io.CopyN(w, fh, f.Size)
		if errors.Is(err, io.EOF) {
			err = nil // short: reported below
		}
	} else {
		err = eachWindow(fh, f.Rel, f.Size, func(win []byte, off int64) error {
			if d != nil {
				d.layer.Write(win)
				if h := d.files[i]; h != nil {
					h.Write(win)
				}
			}
			n, err := sendWindow(w, fh, win, off)
			sent += n
			return err
		})
	}
	switch {
	case err != nil:
		return err
	case sent != f.Size:
		return &fileError{fmt.Errorf("%s: changed while building (read %d of %d bytes)", f.Rel, sent, f.Size)}
	}
	if err := f.unchanged(fh, "while it was read"); err != nil {
		return &fileError{err}
	}
	return nil
}

// sendWindow sends a window of fh that was just hashed. On a plain TCP
// socket that is sendfile(2) of the same range: the kernel passes the page
// cache pages to the socket, without a copy. Any other writer (TLS) gets
// the bytes straight from the mapping. A nil writer only counts them.
func sendWindow(w io.Writer, fh *os.File, win []byte, off int64) (int64, error) {
	tcp, ok := w.(*net.TCPConn)
	switch {
	case w == nil:
		return int64(len(win)), nil
	case !ok:
		n, err := w.Write(win)
		return int64(n), err
	}
	if _, err := fh.Seek(off, io.SeekStart); err != nil {
		return 0, &fileError{err}
	}
	return tcp.ReadFrom(&io.LimitedReader{R: fh, N: int64(len(win))})
}
