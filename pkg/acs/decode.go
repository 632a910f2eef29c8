package acs

import (
	"io"
)

// DecodeImage decodes one Image (the body of POST /v1/images/scan) from r
// within DefaultLimits, as it streams in: a scan of a large image is never
// read into one buffer, and only the fields Image declares are kept.
func DecodeImage(r io.Reader) (*Image, error) {
	return DecodeImageWithin(r, Limits{})
}

// DecodeImageWithin is DecodeImage within lim (zero fields default).
func DecodeImageWithin(r io.Reader, lim Limits) (*Image, error) {
	img := new(Image)
	n, err := decodeBounded(r, img, lim)
	if err != nil {
		return nil, err
	}
	img.retained = n
	return img, nil
}

// decodeJSON decodes one value from r into v within DefaultLimits: every
// answer from Central, small or not, goes through the bounded decoder.
func decodeJSON(r io.Reader, v any) error {
	_, err := decodeBounded(r, v, Limits{})
	return err
}

// errResponseTooLarge is returned when a body exceeds MaxResponseBytes.
var errResponseTooLarge error = &LimitError{Limit: "MaxResponseBytes", what: "the body exceeds MaxResponseBytes"}

// limitReader is io.LimitReader with a distinct error: hitting the limit
// must not look like a clean end of a (truncated, maybe still valid) body.
// It also remembers the first read error, so a body cut short by the network
// can be told apart from a body that is malformed.
type limitReader struct {
	r    io.Reader
	left int64
	err  error // first read error other than io.EOF
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Probe one byte: a body exactly at the limit is fine.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, errResponseTooLarge
		}
		return 0, l.note(err)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, l.note(err)
}

func (l *limitReader) note(err error) error {
	if err != nil && err != io.EOF && l.err == nil {
		l.err = err
	}
	return err
}
