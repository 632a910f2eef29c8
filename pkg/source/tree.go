package source

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// lfsPointerMax is the size limit of a Git LFS pointer file (git-lfs's
// own spec: "Pointer files must be < 1024 bytes").
const lfsPointerMax = 1024

// lfsVersions are the first lines of LFS pointer files (the second is the
// spec's pre-release name, still found in old repositories).
var lfsVersions = []string{"version https://git-lfs.github.com/spec/v1", "version https://hawser.github.com/spec/v1"}

// LFSError names the checked-out files that are Git LFS pointers, not
// the content they stand for.
type LFSError struct {
	Pointers []LFSPointer
}

// LFSPointer is one pointer file.
type LFSPointer struct {
	Path string // relative to the checkout
	OID  string // sha256:...
	Size string // bytes of the real content, as the pointer says
}

func (e *LFSError) Error() string {
	var names []string
	for i, p := range e.Pointers {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(e.Pointers)-5))
			break
		}
		names = append(names, fmt.Sprintf("%s (%s, %s bytes)", p.Path, p.OID, p.Size))
	}
	return fmt.Sprintf("%d file(s) are Git LFS pointers, not the files they stand for: %s. "+
		"modelguard fetch does not download Git LFS objects, and a model built from pointers would serve nothing; "+
		"commit the files to git itself, or download them from the LFS server in a step before the build",
		len(e.Pointers), strings.Join(names, ", "))
}

// CheckTree walks a checkout (dir, without its .git) and returns how many
// regular files it holds. It fails with an *LFSError when files are Git
// LFS pointers, and for a symlink whose target is absolute or leaves dir:
// a model build would copy what it points at from the build step's file
// system.
func CheckTree(dir string) (int, error) {
	files := 0
	var pointers []LFSPointer
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if rel == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if filepath.IsAbs(target) || !filepath.IsLocal(filepath.Join(filepath.Dir(rel), target)) {
				return fmt.Errorf("%s is a symlink to %q, outside the repository: refused", rel, target)
			}
		case info.Mode().IsRegular():
			files++
			if info.Size() < lfsPointerMax {
				if p, ok, err := readLFSPointer(path); err != nil {
					return err
				} else if ok {
					p.Path = filepath.ToSlash(rel)
					pointers = append(pointers, p)
				}
			}
		default:
			return fmt.Errorf("%s is not a regular file, directory or symlink: refused", rel)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("check checkout: %w", err)
	}
	if len(pointers) > 0 {
		return 0, &LFSError{Pointers: pointers}
	}
	return files, nil
}

// readLFSPointer says whether a small file is an LFS pointer.
func readLFSPointer(path string) (LFSPointer, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return LFSPointer{}, false, err
	}
	p, ok := parseLFSPointer(data)
	return p, ok, nil
}

// parseLFSPointer says whether data is an LFS pointer: its first line is
// an LFS spec version and it names an oid.
func parseLFSPointer(data []byte) (LFSPointer, bool) {
	var p LFSPointer
	if len(data) >= lfsPointerMax {
		return p, false
	}
	isPointer := false
	for _, v := range lfsVersions {
		isPointer = isPointer || bytes.HasPrefix(data, []byte(v+"\n"))
	}
	if !isPointer {
		return p, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, _ := strings.Cut(sc.Text(), " ")
		switch key {
		case "oid":
			p.OID = value
		case "size":
			p.Size = value
		}
	}
	return p, p.OID != ""
}
