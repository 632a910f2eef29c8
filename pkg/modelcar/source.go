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
	Size int64
	Exec bool // keeps an executable bit (a=rx) for scripts some runtimes ship
	link bool // listed through a symlink inside the model
	// id is what the file was when it was listed and checked; it is
	// compared again when the file is opened for reading and after it was
	// read, so a file swapped or edited in between is refused.
	id fileID
}

// ErrEmptyModel means the model directory holds no regular file.
var ErrEmptyModel = errors.New("the model directory holds no files")

// Model is a model directory opened for a build. Every file is reached
// through root, which refuses any path or symlink that leaves it.
type Model struct {
	Dir   string // as given, for messages
	Files []File
	root  *os.Root
	abs   string // absolute path of the model directory, for the digest cache
}

// OpenModel opens the model directory dir, which must lie inside within
// (the workspace the caller allows; "" means dir itself), and lists its
// regular files, sorted. The check is done on the resolved path: a
// model-path of "../x", or a symlink on the way that leads out of within,
// is refused. Symlinks in the model are followed while they stay inside the
// model directory; unreadable files are reported by name before anything is built,
// so a build never fails half-way through an upload. Close releases it.
func OpenModel(dir, within string) (*Model, error) {
	if within == "" {
		within = dir
	}
	absWithin, err := filepath.Abs(within)
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", within, err)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("model directory %s: %w", dir, err)
	}
	rel, err := filepath.Rel(absWithin, absDir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("model directory %s is outside %s; refusing to read it", dir, within)
	}
	outer, err := os.OpenRoot(absWithin)
	if err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	}
	defer outer.Close()
	info, err := outer.Stat(rel)
	switch {
	case err != nil && escapes(absWithin, absDir):
		return nil, fmt.Errorf("model directory %s resolves outside %s (through a symlink); refusing to read it", dir, within)
	case err != nil:
		return nil, fmt.Errorf("model directory: %w", err)
	case !info.IsDir():
		return nil, fmt.Errorf("model directory %s is not a directory", dir)
	}
	root, err := outer.OpenRoot(rel)
	if err != nil {
		return nil, fmt.Errorf("model directory %s: %w", dir, err)
	}
	m := &Model{Dir: dir, root: root, abs: absDir}
	if err := m.collect(); err != nil {
		root.Close()
		return nil, err
	}
	return m, nil
}

// Close releases the model directory.
func (m *Model) Close() error { return m.root.Close() }

func (m *Model) collect() error {
	err := fs.WalkDir(m.root.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if d.IsDir() {
			return nil
		}
		f, err := m.collectOne(path, d)
		if err != nil || f == nil {
			return err
		}
		m.Files = append(m.Files, *f)
		return nil
	})
	if err != nil {
		return err
	}
	if len(m.Files) == 0 {
		return fmt.Errorf("%w: %s", ErrEmptyModel, m.Dir)
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Rel < m.Files[j].Rel })
	return nil
}

func (m *Model) collectOne(name string, d fs.DirEntry) (*File, error) {
	// Stat through the root follows a symlink only while it stays inside.
	info, err := m.root.Stat(name)
	if err != nil {
		if d.Type()&fs.ModeSymlink != 0 {
			return nil, m.symlinkError(name, err)
		}
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
	fh, err := m.root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot be read: %w", name, err)
	}
	fh.Close()
	return &File{Rel: name, Size: info.Size(), Exec: info.Mode()&0o111 != 0, link: d.Type()&fs.ModeSymlink != 0, id: idOf(info)}, nil
}

// symlinkError says why a symlink in the model cannot be followed, naming
// it. Files must lie inside the model directory itself.
func (m *Model) symlinkError(name string, err error) error {
	resolved, evalErr := filepath.EvalSymlinks(filepath.Join(m.abs, filepath.FromSlash(name)))
	switch {
	case evalErr != nil:
		return fmt.Errorf("%s: broken symlink: %w", name, err)
	case escapes(m.abs, resolved):
		return fmt.Errorf("%s: symlink points outside the model directory (to %s); copy the file in instead", name, resolved)
	}
	target, _ := m.root.Readlink(name)
	if filepath.IsAbs(target) {
		return fmt.Errorf("%s: absolute symlink (to %s); make it relative or copy the file in", name, target)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// escapes says whether path, once its symlinks are resolved, lies outside
// dir (also resolved). It only chooses an error message: the refusal
// itself comes from os.Root.
func escapes(dir, path string) bool {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return true
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	return real != realDir && !strings.HasPrefix(real, realDir+string(filepath.Separator))
}

// open opens a listed file for reading, through the root, and checks that
// it is still the file that was listed: the same device and inode, size,
// mtime and ctime. A file replaced by a symlink, or by another file, or
// edited since the layout check is refused with its name.
func (m *Model) open(f *File) (*os.File, error) {
	if info, err := m.root.Lstat(f.Rel); err == nil && info.Mode()&fs.ModeSymlink != 0 && !f.link {
		return nil, fmt.Errorf("%s: replaced by a symlink after the layout check; refusing to read it", f.Rel)
	}
	fh, err := m.root.Open(f.Rel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Rel, err)
	}
	if err := f.unchanged(fh, "after the layout check"); err != nil {
		fh.Close()
		return nil, err
	}
	return fh, nil
}

// unchanged compares an open file with what was listed.
func (f *File) unchanged(fh *os.File, when string) error {
	info, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", f.Rel, err)
	}
	now := idOf(info)
	switch {
	case !now.sameFile(f.id) || !info.Mode().IsRegular():
		return fmt.Errorf("%s: replaced by another file %s; refusing to read it", f.Rel, when)
	case info.Size() != f.Size || !now.sameContent(f.id):
		return fmt.Errorf("%s: changed %s (size, mtime or ctime differ); refusing to build from a file being written", f.Rel, when)
	}
	return nil
}
