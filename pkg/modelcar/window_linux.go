package modelcar

import (
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
)

// eachWindow hands the first n bytes of f to fn a window at a time, from a
// read-only mapping of the page cache: hashing reads the file where it
// lies, with no copy into a buffer. Each window is unmapped before the next
// is mapped, so memory stays at one window whatever the file's size.
//
// A file truncated under the mapping makes the next access fault;
// SetPanicOnFault turns that into a panic this goroutine recovers as an
// error naming the file, instead of a crash.
func eachWindow(f *os.File, name string, n int64, fn func(win []byte, off int64) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if _, fault := p.(interface{ Addr() uintptr }); !fault {
				panic(p)
			}
			err = &fileError{fmt.Errorf("%s: changed while building (truncated while it was read)", name)}
		}
	}()
	for off := int64(0); off < n; off += windowSize {
		if err := mapWindow(f, name, off, int(min(windowSize, n-off)), fn); err != nil {
			return err
		}
	}
	return nil
}

// mapWindow maps one window for fn; the deferred unmap also runs when fn
// faults.
func mapWindow(f *os.File, name string, off int64, size int, fn func(win []byte, off int64) error) error {
	win, err := syscall.Mmap(int(f.Fd()), off, size, syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return &fileError{fmt.Errorf("%s: map: %w", name, err)}
	}
	defer syscall.Munmap(win)
	return fn(win, off)
}
