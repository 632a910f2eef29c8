package acs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// A scan of a large image is several MB of JSON, most of it
// scan.components. json.Decoder.Decode on the whole body would buffer the
// entire document before decoding a byte of it, so DecodeImage walks the
// document with Token and decodes one component at a time: what is held at
// once is the decoded Image plus one component's JSON.
//
// Every member other than the streamed ones is decoded by encoding/json
// itself into the same struct, so the json tags stay the single definition
// of the wire format, and the result is exactly what json.Unmarshal would
// produce (FuzzDecodeImage checks that).

// testHookComponentDecoded, if set (tests only), is called after each
// component is decoded, to prove decoding starts before the body ends.
var testHookComponentDecoded func(i int)

// DecodeImage decodes one Image (the body of POST /v1/images/scan) from r,
// streaming scan.components. r must hold exactly one JSON value.
func DecodeImage(r io.Reader) (*Image, error) {
	dec := json.NewDecoder(r)
	img := new(Image)
	if err := decodeImage(dec, img); err != nil {
		return nil, err
	}
	if err := expectEOF(dec); err != nil {
		return nil, err
	}
	return img, nil
}

func decodeImage(dec *json.Decoder, img *Image) error {
	isNull, err := openObject(dec, "Image")
	if err != nil || isNull {
		return err
	}
	return decodeMembers(dec, img, map[string]func() error{
		"scan": func() error {
			isNull, err := openObject(dec, "ImageScan")
			if err != nil {
				return err
			}
			if isNull {
				img.Scan = nil // what encoding/json does for null into a pointer
				return nil
			}
			if img.Scan == nil {
				img.Scan = new(ImageScan)
			}
			scan := img.Scan
			return decodeMembers(dec, scan, map[string]func() error{
				"components": func() error {
					return decodeArray(dec, &scan.Components, testHookComponentDecoded)
				},
			})
		},
	})
}

// openObject reads the start of an object: '{' (isNull false) or null.
func openObject(dec *json.Decoder, what string) (isNull bool, err error) {
	tok, err := dec.Token()
	if err != nil {
		return false, err
	}
	switch tok {
	case nil:
		return true, nil
	case json.Delim('{'):
		return false, nil
	}
	return false, fmt.Errorf("acs: decode %s: got %s, want an object", what, tokenKind(tok))
}

// decodeMembers reads an object's members up to and including its '}'.
// Members named in streamed are handed to their function, which consumes the
// value; any other member is decoded into dst by encoding/json.
func decodeMembers(dec *json.Decoder, dst any, streamed map[string]func() error) error {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("acs: decode: object key is %s", tokenKind(tok))
		}
		if fn, ok := streamed[key]; ok {
			if err := fn(); err != nil {
				return err
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if err := decodeMember(key, raw, dst); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// decodeMember decodes {key: raw} into dst, so encoding/json matches the key
// to a field (case-insensitively, as usual) or ignores it.
func decodeMember(key string, raw json.RawMessage, dst any) error {
	k, err := json.Marshal(key)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, len(k)+len(raw)+3)
	buf = append(buf, '{')
	buf = append(buf, k...)
	buf = append(buf, ':')
	buf = append(buf, raw...)
	buf = append(buf, '}')
	return json.Unmarshal(buf, dst)
}

// decodeArray decodes a JSON array (or null) into *s one element at a time,
// with encoding/json's slice semantics: elements are decoded into the
// existing backing array when there is one, the slice is truncated to the
// elements read, and an empty array gives an empty non-nil slice.
func decodeArray[T any](dec *json.Decoder, s *[]T, after func(i int)) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*s = nil
		return nil
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("acs: decode: got %s, want an array", tokenKind(tok))
	}
	v := *s
	i := 0
	for dec.More() {
		if i >= cap(v) {
			v = slices.Grow(v, 1)
		}
		if i >= len(v) {
			v = v[:i+1]
		}
		if err := dec.Decode(&v[i]); err != nil {
			*s = v
			return err
		}
		if after != nil {
			after(i)
		}
		i++
	}
	if _, err := dec.Token(); err != nil { // ']'
		return err
	}
	v = v[:i]
	if i == 0 {
		v = []T{}
	}
	*s = v
	return nil
}

// decodeJSON decodes one value from r into v. Small responses (alerts,
// metadata) need no streaming beyond json.Decoder's own.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	if err := dec.Decode(v); err != nil {
		return err
	}
	return expectEOF(dec)
}

// expectEOF fails if anything but whitespace follows the value, as
// json.Unmarshal does: two concatenated documents are a broken response.
func expectEOF(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return errors.New("acs: decode: data after the JSON value")
		}
		return err
	}
	return nil
}

func tokenKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", tok)
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// errResponseTooLarge is returned when a body exceeds MaxResponseBytes.
var errResponseTooLarge error = &limitError{"response body exceeds its limit"}

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
