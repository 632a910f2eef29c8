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
)

// digestCache remembers layer digests by what the files look like on disk,
// so a rebuild of an unchanged model only stats its files.
//
// An entry is keyed by each file's path, size, device, inode, and mtime and
// ctime to the nanosecond. ctime is set by the kernel on every write and
// cannot be set back from user space, so an edit that restores the old mtime
// (touch -d, or a tool that preserves times) still misses.
//
// Same-size edits within one timestamp tick are the remaining trap: a file
// written, hashed and written again within the filesystem's timestamp
// granularity keeps its mtime and ctime. So an entry is only written when
// every file last changed at least racyWindow before its read began: any
// later write then carries a later timestamp than the one recorded, on any
// filesystem whose granularity is finer than racyWindow. A file that
// changed just before the build is simply hashed again next time (git's
// index treats "racily clean" entries the same way).
//
// The cache is trusted like the model itself (a wrong entry for a blob the
// registry has would put that blob in the image), so only a directory the
// user owns and no one else can write is read.
type digestCache struct {
	dir string
	// fileSums: an entry without the files' own hashes does not count.
	fileSums bool
}

// racyWindow is how long ago a file must have changed for its digest to be
// remembered. Linux filesystems keep nanoseconds, but a timestamp is taken
// from a clock that ticks every few milliseconds and some (ext4 with small
// inodes, network filesystems) keep whole seconds; 2 s covers them all.
const racyWindow = 2 * time.Second

// tarFormat changes whenever the tar stream changes for the same input.
const tarFormat = "modelguard-tar-1"

// maxEntry bounds what is read from one cache file.
const maxEntry = 1 << 20

func (c digestCache) key(l *tarLayer) string {
	type fileKey struct {
		Rel  string
		Size int64
		Exec bool
		ID   fileID
	}
	k := struct {
		Format string
		Mtime  int64
		Dir    string
		Files  []fileKey
	}{Format: tarFormat, Mtime: l.mtime.Unix(), Dir: l.model.abs}
	for _, f := range l.files {
		k.Files = append(k.Files, fileKey{Rel: f.Rel, Size: f.Size, Exec: f.Exec, ID: f.id})
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
	if c.dir == "" || !c.trusted() {
		return false
	}
	f, err := os.Open(filepath.Join(c.dir, c.key(l)+".json"))
	if err != nil {
		return false
	}
	defer f.Close()
	var v cached
	if json.NewDecoder(io.LimitReader(f, maxEntry)).Decode(&v) != nil {
		return false
	}
	h, err := v1.NewHash(v.Digest)
	if err != nil || v.Size != l.size || (c.fileSums && len(v.FileSums) != len(l.files)) {
		return false
	}
	l.digest, l.fileSums = h, v.FileSums
	return true
}

// trusted says whether the cache directory is the user's own.
func (c digestCache) trusted() bool {
	info, err := os.Stat(c.dir)
	return err == nil && info.IsDir() && info.Mode().Perm()&0o022 == 0 && ownedByMe(info)
}

// store remembers a layer's digest, unless one of its files changed less
// than racyWindow before readStart (see digestCache). It is best effort: a
// cache that cannot be written only costs time.
func (c digestCache) store(l *tarLayer, readStart time.Time) {
	if c.dir == "" {
		return
	}
	for _, f := range l.files {
		if readStart.UnixNano()-f.id.newest() < int64(racyWindow) {
			return
		}
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil || !c.trusted() {
		return
	}
	b, _ := json.Marshal(cached{Digest: l.digest.String(), Size: l.size, FileSums: l.fileSums})
	tmp := filepath.Join(c.dir, fmt.Sprintf(".%s.%d", c.key(l), os.Getpid()))
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, filepath.Join(c.dir, c.key(l)+".json"))
	}
}
