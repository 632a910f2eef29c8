package acs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Bounded decoding: every answer from Central is decoded by decodeBounded,
// which walks the JSON token by token into the response type and keeps
// only the fields that type declares. Memory is bounded whatever the body's
// shape: one token is held at a time (at most MaxTokenBytes), nesting is at
// most MaxDepth, a kept array or map has at most MaxItems elements (or its
// field's `max:"N"` tag), and what is kept in all costs at most
// MaxRetainedBytes. Members the type does not declare are checked for
// syntax and dropped as they stream by, so a huge unknown member costs time,
// not memory. Past a limit, decoding stops with a *LimitError
// (errors.Is(err, ErrLimit)).
//
// Within the limits the result is exactly what json.Unmarshal gives for the
// same bytes and type (FuzzDecodeBounded checks it): keys match fields as
// encoding/json matches them, scalars are stored by encoding/json itself
// (so Int64, time.Time and enum types behave the same), duplicate keys
// merge, and arrays reuse what a duplicate key decoded before.

// Limits bound what decoding one answer may hold. A zero field takes its
// default from DefaultLimits.
type Limits struct {
	// MaxTokenBytes bounds one string or number, quotes and escapes
	// included, kept or not.
	MaxTokenBytes int
	// MaxDepth bounds the nesting of objects and arrays.
	MaxDepth int
	// MaxItems bounds the elements of one kept array and the members of
	// one kept map, unless the field's `max:"N"` tag says otherwise.
	MaxItems int
	// MaxRetainedBytes bounds what the decoded value holds: its strings,
	// slice elements, map entries and allocated structs.
	MaxRetainedBytes int64
	// CutText, if set, cuts each kept string longer than this many bytes
	// (on a rune boundary, with "…") instead of keeping it whole. Off by
	// default: a gate that compares values must see them whole.
	CutText int
}

// DefaultLimits are far above what Central sends for the largest images
// (a few thousand components, tens of thousands of vulnerabilities) and far
// below what would hurt a controller with a 256 MiB memory limit.
var DefaultLimits = Limits{
	MaxTokenBytes:    256 << 10,
	MaxDepth:         32,
	MaxItems:         100_000,
	MaxRetainedBytes: 24 << 20,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxTokenBytes <= 0 {
		l.MaxTokenBytes = d.MaxTokenBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxItems <= 0 {
		l.MaxItems = d.MaxItems
	}
	if l.MaxRetainedBytes <= 0 {
		l.MaxRetainedBytes = d.MaxRetainedBytes
	}
	return l
}

// ErrLimit matches (errors.Is) an answer past one of the client's bounds:
// a body larger than MaxResponseBytes, or a decoded answer past its Limits.
var ErrLimit = errors.New("acs: answer past the client's limits")

// LimitError says which limit an answer went past, and where.
type LimitError struct {
	Limit string // the Limits field (or MaxResponseBytes)
	Max   int64
	what  string
}

func (e *LimitError) Error() string        { return "Central's answer is too large: " + e.what }
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// IsTooLarge reports an answer refused for its size or shape (ErrLimit):
// retrying does not help, and nothing was checked.
func IsTooLarge(err error) bool { return errors.Is(err, ErrLimit) }

// decodeBounded decodes one JSON value from r into v (a non-nil pointer)
// within lim, and requires nothing but whitespace after it. It returns the
// bytes the decoded value retains.
func decodeBounded(r io.Reader, v any, lim Limits) (int64, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return 0, fmt.Errorf("acs: decode: need a non-nil pointer, got %T", v)
	}
	if err := checkTypeOnce(rv.Type().Elem()); err != nil {
		return 0, err
	}
	lim = lim.withDefaults()
	d := &decoder{lex: newLexer(r, lim.MaxTokenBytes), lim: lim, element: testHookElement}
	tok, err := d.lex.next()
	if err != nil {
		return 0, err
	}
	if tok == tokEOF {
		return 0, d.lex.syntax("empty answer")
	}
	if err := d.value(tok, rv.Elem(), 0, 0); err != nil {
		return d.retained, err
	}
	switch tok, err := d.lex.next(); {
	case err != nil:
		return d.retained, err
	case tok != tokEOF:
		return d.retained, errTrailing
	}
	return d.retained, nil
}

// testHookElement, if set (tests only), is called after each element of a
// kept array is decoded, with the array's path ("scan.components").
var testHookElement func(path string, i int)

type decoder struct {
	lex      *lexer
	lim      Limits
	retained int64
	path     []string // JSON names down to the current value, for messages
	// element, if set (tests only), is called after each element of a kept
	// array is decoded, with the array's path.
	element func(path string, i int)
}

func (d *decoder) where() string {
	if len(d.path) == 0 {
		return "the answer"
	}
	return pathString(d.path)
}

// pathString writes a path as scan.components[].vulns.
func pathString(path []string) string {
	var b strings.Builder
	for _, p := range path {
		if b.Len() > 0 && p != "[]" {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// retain charges n bytes against MaxRetainedBytes.
func (d *decoder) retain(n int64) error {
	d.retained += n
	if d.retained > d.lim.MaxRetainedBytes {
		return &LimitError{Limit: "MaxRetainedBytes", Max: d.lim.MaxRetainedBytes,
			what: fmt.Sprintf("more than %d bytes kept (at %s)", d.lim.MaxRetainedBytes, d.where())}
	}
	return nil
}

// value decodes the value starting with tok into v; an invalid v means
// "check and drop". max bounds v's elements if it is a slice or a map.
func (d *decoder) value(tok byte, v reflect.Value, depth, max int) error {
	switch tok {
	case '{', '[':
		if depth >= d.lim.MaxDepth {
			return &LimitError{Limit: "MaxDepth", Max: int64(d.lim.MaxDepth),
				what: fmt.Sprintf("nested deeper than %d at offset %d", d.lim.MaxDepth, d.lex.offset())}
		}
		v, err := d.composite(v, tok)
		if err != nil {
			return err
		}
		if tok == '{' {
			return d.object(v, depth+1, max)
		}
		return d.array(v, depth+1, max)
	case tokString, tokNumber, tokLiteral:
		if v.IsValid() {
			return d.scalar(v)
		}
		return nil
	case tokEOF:
		return d.lex.readErr()
	}
	return d.lex.syntax("unexpected %q looking for a value", tok)
}

// composite resolves v for an object or array: pointers are followed and
// allocated as encoding/json does; a type that decodes itself, or one of
// the wrong kind, is refused as encoding/json would refuse it.
func (d *decoder) composite(v reflect.Value, tok byte) (reflect.Value, error) {
	if !v.IsValid() {
		return v, nil
	}
	for {
		if scalarOnly(v.Type()) {
			return v, d.mismatch(v, tok)
		}
		if v.Kind() != reflect.Pointer {
			break
		}
		if v.IsNil() {
			if err := d.retain(int64(v.Type().Elem().Size())); err != nil {
				return v, err
			}
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	switch {
	case tok == '{' && (v.Kind() == reflect.Struct || v.Kind() == reflect.Map),
		tok == '[' && v.Kind() == reflect.Slice:
		return v, nil
	}
	return v, d.mismatch(v, tok)
}

func (d *decoder) mismatch(v reflect.Value, tok byte) error {
	kind := "an object"
	if tok == '[' {
		kind = "an array"
	}
	return fmt.Errorf("acs: decode: %s is %s, want %v", d.where(), kind, v.Type())
}

// object decodes the members of an object whose '{' was read.
func (d *decoder) object(v reflect.Value, depth, max int) error {
	var s *schema
	if v.IsValid() && v.Kind() == reflect.Struct {
		var err error
		if s, err = schemaOf(v.Type()); err != nil {
			return err
		}
	}
	if v.IsValid() && v.Kind() == reflect.Map && v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	members := 0
	for {
		tok, err := d.lex.next()
		if err != nil {
			return err
		}
		if tok == '}' && members == 0 {
			return nil
		}
		if tok != tokString {
			return d.unexpected(tok, "an object key")
		}
		// The key is resolved before the value overwrites the lexer's
		// buffer: to a field without a copy (most keys of an answer are
		// dropped), or to a map key.
		var f *fieldInfo
		var mapKey string
		switch {
		case s != nil:
			key, err := d.keyBytes()
			if err != nil {
				return err
			}
			f = s.field(key)
		case v.IsValid():
			key, err := d.keyBytes()
			if err != nil {
				return err
			}
			mapKey = string(key)
		}
		if tok, err = d.lex.next(); err != nil {
			return err
		}
		if tok != ':' {
			return d.unexpected(tok, "':' after an object key")
		}
		if tok, err = d.lex.next(); err != nil {
			return err
		}
		members++
		switch {
		case f != nil:
			d.path = append(d.path, f.name)
			err = d.value(tok, v.Field(f.index), depth, f.max)
			d.path = d.path[:len(d.path)-1]
		case s == nil && v.IsValid(): // a map
			err = d.entry(v, mapKey, tok, depth, max, members)
		default:
			err = d.value(tok, reflect.Value{}, depth, 0)
		}
		if err != nil {
			return err
		}
		if tok, err = d.lex.next(); err != nil {
			return err
		}
		switch tok {
		case ',':
		case '}':
			return nil
		default:
			return d.unexpected(tok, "',' or '}' after an object member")
		}
	}
}

// keyBytes is the current string token unquoted; without escapes it
// aliases the lexer's buffer, valid until the next token.
func (d *decoder) keyBytes() ([]byte, error) {
	raw := d.lex.tok
	if !d.lex.escaped && utf8.Valid(raw) {
		return raw[1 : len(raw)-1], nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, d.lex.syntax("string: %v", err)
	}
	return []byte(s), nil
}

func (d *decoder) entry(m reflect.Value, key string, tok byte, depth, max, n int) error {
	if err := d.items(n, max); err != nil {
		return err
	}
	if err := d.retain(int64(len(key)) + int64(m.Type().Elem().Size()) + 16); err != nil {
		return err
	}
	elem := reflect.New(m.Type().Elem()).Elem()
	if err := d.value(tok, elem, depth, 0); err != nil {
		return err
	}
	k := reflect.New(m.Type().Key()).Elem()
	k.SetString(key)
	m.SetMapIndex(k, elem)
	return nil
}

// items refuses the n-th element of a kept array or map past its bound.
func (d *decoder) items(n, max int) error {
	if max <= 0 {
		max = d.lim.MaxItems
	}
	if n > max {
		return &LimitError{Limit: "MaxItems", Max: int64(max),
			what: fmt.Sprintf("%s has more than %d elements", d.where(), max)}
	}
	return nil
}

// array decodes the elements of an array whose '[' was read, with
// encoding/json's slice semantics: elements decode into the existing
// backing array, the slice is cut to the elements read, and an empty
// array gives an empty non-nil slice.
func (d *decoder) array(v reflect.Value, depth, max int) error {
	i := 0
	d.path = append(d.path, "[]")
	defer func() { d.path = d.path[:len(d.path)-1] }()
	for {
		tok, err := d.lex.next()
		if err != nil {
			return err
		}
		if tok == ']' && i == 0 {
			break
		}
		if v.IsValid() {
			if err := d.items(i+1, max); err != nil {
				return err
			}
			if i >= v.Cap() {
				// Charge what the growth allocates, not one element: a
				// slice's capacity runs ahead of its length.
				before := v.Cap()
				v.Grow(1)
				if err := d.retain(int64(v.Cap()-before) * int64(v.Type().Elem().Size())); err != nil {
					return err
				}
			}
			if i >= v.Len() {
				v.SetLen(i + 1)
			}
			err = d.value(tok, v.Index(i), depth, 0)
		} else {
			err = d.value(tok, v, depth, 0)
		}
		if err != nil {
			return err
		}
		if d.element != nil && v.IsValid() {
			d.element(pathString(d.path[:len(d.path)-1]), i)
		}
		i++
		if tok, err = d.lex.next(); err != nil {
			return err
		}
		if tok == ']' {
			break
		}
		if tok != ',' {
			return d.unexpected(tok, "',' or ']' after an array element")
		}
	}
	if !v.IsValid() {
		return nil
	}
	if i < v.Len() {
		v.SetLen(i)
	}
	if i == 0 {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
	}
	return nil
}

func (d *decoder) unexpected(tok byte, want string) error {
	switch tok {
	case tokEOF:
		return d.lex.readErr()
	case tokString:
		return d.lex.syntax("unexpected string looking for %s", want)
	case tokNumber, tokLiteral:
		return d.lex.syntax("unexpected %s looking for %s", d.lex.tok, want)
	}
	return d.lex.syntax("unexpected %q looking for %s", tok, want)
}

// scalar stores the current scalar token into v as encoding/json would.
// Plain strings take a fast path; everything else is handed to
// encoding/json (one token, so this is bounded too).
func (d *decoder) scalar(v reflect.Value) error {
	raw := d.lex.tok
	if v.Kind() == reflect.String && raw[0] == '"' && !scalarOnly(v.Type()) {
		s, err := d.text(true)
		if err != nil {
			return err
		}
		if err := d.retain(int64(len(s))); err != nil {
			return err
		}
		v.SetString(s)
		return nil
	}
	if err := d.retain(d.indirectSize(v, raw)); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
		return fmt.Errorf("acs: decode %s: %w", d.where(), err)
	}
	if v.Kind() == reflect.String && d.lim.CutText > 0 {
		v.SetString(cutText(v.String(), d.lim.CutText))
	}
	return nil
}

// indirectSize is what storing raw into v may allocate: a pointer's
// target, a string's bytes.
func (d *decoder) indirectSize(v reflect.Value, raw []byte) int64 {
	n := int64(0)
	t := v.Type()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		n += int64(t.Size())
	}
	if t.Kind() == reflect.String || scalarOnly(t) {
		n += int64(len(raw))
	}
	return n
}

// text unquotes the current string token; kept strings are cut to CutText
// when it is set.
func (d *decoder) text(kept bool) (string, error) {
	raw := d.lex.tok
	var s string
	if !d.lex.escaped && utf8.Valid(raw) {
		s = string(raw[1 : len(raw)-1])
	} else if err := json.Unmarshal(raw, &s); err != nil {
		return "", d.lex.syntax("string: %v", err)
	}
	if kept && d.lim.CutText > 0 {
		s = cutText(s, d.lim.CutText)
	}
	return s, nil
}

// cutText cuts s to at most n bytes on a rune boundary, marking the cut.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
