package modelcar

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultLayerThreshold: files at least this big get a layer of their own,
// so an unchanged shard keeps its digest and is never uploaded again.
const DefaultLayerThreshold = 16 << 20

// tarLayer is an uncompressed layer made from model files. Weights do not
// compress, so gzip would only burn CPU; uncompressed also means digest ==
// diffID. The tar is generated on demand, each time it is read, so memory
// stays flat whatever the model size.
type tarLayer struct {
	files  []File
	mtime  time.Time
	digest v1.Hash
	size   int64
	// fileSums are the files' own SHA-256 (hex), for the ML-BOM; filled by
	// hash or from the cache.
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
func (l *tarLayer) Uncompressed() (io.ReadCloser, error) { return l.open(), nil }

func (l *tarLayer) open() io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, l.files, l.mtime, nil)) }()
	return pr
}

// hash computes digest and size by writing the tar once into sha256 and,
// when fileSums is set (an ML-BOM is wanted), each file's own SHA-256 in
// the same pass. The file hashes double the hashing work, so they are
// only taken when asked for.
func (l *tarLayer) hash(fileSums bool) error {
	h := sha256.New()
	counter := &countingWriter{w: h}
	var sums []string
	if fileSums {
		sums = make([]string, len(l.files))
	}
	if err := writeTar(counter, l.files, l.mtime, sums); err != nil {
		return err
	}
	l.fileSums = sums
	n := counter.n
	l.size = n
	l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// planLayers gives each file of at least threshold bytes its own layer and
// groups the rest into one, in path order.
func planLayers(files []File, threshold int64, mtime time.Time) []*tarLayer {
	var small []File
	var out []*tarLayer
	for _, f := range files {
		if f.Size >= threshold {
			out = append(out, &tarLayer{files: []File{f}, mtime: mtime})
		} else {
			small = append(small, f)
		}
	}
	if len(small) > 0 {
		out = append([]*tarLayer{{files: small, mtime: mtime}}, out...)
	}
	return out
}

// digestCache remembers layer digests by what the files look like on disk
// (path, size, mtime, inode), so a rebuild hashes only what changed. It is
// an optimisation only: a wrong entry would make the registry refuse the
// upload, never produce a different image.
type digestCache struct {
	dir string
	// fileSums: an entry without the files' own hashes does not count.
	fileSums bool
}

// tarFormat changes whenever writeTar's output changes for the same input.
const tarFormat = "modelguard-tar-1"

func (c digestCache) key(l *tarLayer) string {
	type fileKey struct {
		Rel         string
		Size, Mtime int64
		Inode       uint64
		Exec        bool
	}
	k := struct {
		Format string
		Mtime  int64
		Files  []fileKey
	}{Format: tarFormat, Mtime: l.mtime.Unix()}
	for _, f := range l.files {
		abs, _ := filepath.Abs(f.Abs)
		k.Files = append(k.Files, fileKey{Rel: f.Rel + "\x00" + abs, Size: f.Size, Mtime: f.ModTimeNanos, Inode: f.Inode, Exec: f.Exec})
	}
	b, _ := json.Marshal(k)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

type cached struct {
	Digest   string   `json:"digest"`
	Size     int64    `json:"size"`
	FileSums []string `json:"fileSums"`
}

func (c digestCache) load(l *tarLayer) bool {
	if c.dir == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(c.dir, c.key(l)+".json"))
	if err != nil {
		return false
	}
	var v cached
	if json.Unmarshal(b, &v) != nil {
		return false
	}
	h, err := v1.NewHash(v.Digest)
	if err != nil || (c.fileSums && len(v.FileSums) != len(l.files)) {
		return false
	}
	l.digest, l.size, l.fileSums = h, v.Size, v.FileSums
	return true
}

// store is best effort: a cache that cannot be written only costs time.
func (c digestCache) store(l *tarLayer) {
	if c.dir == "" {
		return
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return
	}
	b, _ := json.Marshal(cached{Digest: l.digest.String(), Size: l.size, FileSums: l.fileSums})
	tmp := filepath.Join(c.dir, fmt.Sprintf(".%s.%d", c.key(l), os.Getpid()))
	if os.WriteFile(tmp, b, 0o644) == nil {
		_ = os.Rename(tmp, filepath.Join(c.dir, c.key(l)+".json"))
	}
}
