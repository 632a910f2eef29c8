//go:build !linux

package modelcar

import (
	"fmt"
	"io"
	"os"
)

// eachWindow hands the first n bytes of f to fn a window at a time, read
// into one buffer (the Linux build maps the page cache instead).
func eachWindow(f *os.File, name string, n int64, fn func(win []byte, off int64) error) error {
	buf := make([]byte, min(windowSize, n))
	for off := int64(0); off < n; off += windowSize {
		win := buf[:min(windowSize, n-off)]
		if _, err := f.ReadAt(win, off); err != nil {
			if err == io.EOF {
				return &fileError{fmt.Errorf("%s: changed while building (truncated while it was read)", name)}
			}
			return &fileError{fmt.Errorf("%s: %w", name, err)}
		}
		if err := fn(win, off); err != nil {
			return err
		}
	}
	return nil
}
