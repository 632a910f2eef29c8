package modelcar

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File is one regular file of the model.
type File struct {
	Rel  string // slash-separated path under the model root, e.g. "1/model.xml"
	Abs  string // where to read it
	Size int64
	Exec bool // keeps an executable bit (a=rx) for scripts some runtimes ship
	// Stat identity for the digest cache: the same path, size, mtime and
	// inode are taken to mean the same content.
	ModTimeNanos int64
	Inode        uint64
}

// ErrEmptyModel means the model directory holds no regular file.
var ErrEmptyModel = errors.New("the model directory holds no files")

// Collect walks a model directory and returns its regular files, sorted.
// Symlinks are followed when they stay inside the directory and refused
// when they point out of it; unreadable files are reported by name before
// anything is built, so a build never fails half-way through an upload.
func Collect(dir string) ([]File, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("model directory %s: %w", dir, err)
	}
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("model directory %s is not a directory", dir)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("model directory %s: %w", dir, err)
	}
	var files []File
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", rel(root, path), err)
		}
		if d.IsDir() {
			return nil
		}
		f, err := collectOne(root, realRoot, path, d)
		if err != nil || f == nil {
			return err
		}
		files = append(files, *f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrEmptyModel, dir)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Rel < files[j].Rel })
	return files, nil
}

func collectOne(root, realRoot, path string, d fs.DirEntry) (*File, error) {
	name := rel(root, path)
	target := path
	if d.Type()&fs.ModeSymlink != 0 {
		resolved, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil, fmt.Errorf("%s: broken symlink: %w", name, err)
		}
		if resolved != realRoot && !strings.HasPrefix(resolved, realRoot+string(filepath.Separator)) {
			return nil, fmt.Errorf("%s: symlink points outside the model directory (to %s); copy the file in instead", name, resolved)
		}
		target = resolved
	}
	info, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch {
	case info.IsDir():
		// A symlink to a directory inside the model: its files are reached
		// through their real paths already.
		return nil, nil
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("%s: not a regular file (%s)", name, info.Mode().Type())
	}
	fh, err := os.Open(target)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot be read: %w", name, err)
	}
	fh.Close()
	f := &File{Rel: name, Abs: target, Size: info.Size(), Exec: info.Mode()&0o111 != 0, ModTimeNanos: info.ModTime().UnixNano()}
	f.Inode = inodeOf(info)
	return f, nil
}

func rel(root, path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(r)
}
