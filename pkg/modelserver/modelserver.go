// Package modelserver is a tiny model server for demos and end-to-end
// tests: it loads a model directory (what a modelcar puts under /models),
// proves it read every byte by answering with the model's content digest,
// and speaks the health and metadata parts of KServe's Open Inference
// Protocol (v2), so the same probes and checks work as for a real runtime.
// It runs no model: /infer answers with a digest of the request.
package modelserver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Model is what the server loaded.
type Model struct {
	Name  string `json:"name"`
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"`
	// Digest covers every file's path and content: sha256 over the sorted
	// lines "<sha256 of content>  <path>\n", as sha256sum prints them, so
	// `cd model && find . -type f | sort | xargs sha256sum | sha256sum`
	// gives the same value by hand.
	Digest string `json:"digest"`
}

// Load reads every regular file under dir. dir itself may be a symlink:
// KServe links /mnt/models to /proc/<pid>/root/models, the modelcar
// container's files, and only the kernel resolves that link right (it
// points into another container's mount namespace), so it is walked
// through, never resolved here. Symlinks below dir are followed only
// within dir: a modelcar's files are plain, and a link out of the model
// would make the digest depend on the host.
func Load(name, dir string) (*Model, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	// The trailing separator makes the walk's first Lstat follow a
	// symlinked root.
	err = filepath.WalkDir(root+string(filepath.Separator), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		p = filepath.Clean(p)
		if p != root && d.Type()&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(p)
			if err != nil {
				return err
			}
			if rel, err := filepath.Rel(root, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return fmt.Errorf("%s links outside the model directory", p)
			}
		}
		if d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0 {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("model %s: no files", dir)
	}
	sort.Strings(paths)
	m := &Model{Name: name}
	sum := sha256.New()
	for _, p := range paths {
		h, n, err := hashFile(p)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", dir, err)
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(sum, "%s  ./%s\n", h, filepath.ToSlash(rel))
		m.Files++
		m.Bytes += n
	}
	m.Digest = "sha256:" + hex.EncodeToString(sum.Sum(nil))
	return m, nil
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
