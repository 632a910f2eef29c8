package acs

import (
	"errors"
	"fmt"
	"io"
)

// lexer splits a JSON byte stream into tokens, checking the syntax as
// encoding/json does, and holds at most one scalar token at a time, of at
// most maxToken bytes: a 64 MiB string is refused after maxToken bytes, not
// read into memory first.
type lexer struct {
	r        io.Reader
	buf      []byte // read-ahead
	pos, end int
	off      int64 // stream offset of buf[0]
	rerr     error // the reader's error, once seen

	maxToken int
	tok      []byte // the current scalar token, raw (quotes and escapes kept)
	escaped  bool   // the current string token has a backslash
}

// Token kinds. Delimiters are their own byte.
const (
	tokEOF     = 0
	tokString  = '"'
	tokNumber  = '0'
	tokLiteral = 'l' // true, false, null: tok holds the word
)

func newLexer(r io.Reader, maxToken int) *lexer {
	return &lexer{r: r, buf: make([]byte, 32<<10), maxToken: maxToken}
}

// offset is the stream offset of the next unread byte, for messages.
func (l *lexer) offset() int64 { return l.off + int64(l.pos) }

func (l *lexer) fill() bool {
	if l.rerr != nil {
		return false
	}
	l.off += int64(l.end)
	l.pos, l.end = 0, 0
	for l.end == 0 {
		n, err := l.r.Read(l.buf)
		l.end = n
		if err != nil {
			l.rerr = err
			return n > 0
		}
	}
	return true
}

// peek returns the next byte without consuming it; ok is false at the end
// of the stream (or on a read error, which readErr reports).
func (l *lexer) peek() (byte, bool) {
	if l.pos == l.end && !l.fill() {
		return 0, false
	}
	return l.buf[l.pos], true
}

// readErr is what ended the stream: a read error, or io.ErrUnexpectedEOF
// when the document stopped early.
func (l *lexer) readErr() error {
	if l.rerr != nil && l.rerr != io.EOF {
		return l.rerr
	}
	return io.ErrUnexpectedEOF
}

func (l *lexer) syntax(format string, args ...any) error {
	return &SyntaxError{Offset: l.offset(), msg: fmt.Sprintf(format, args...)}
}

// SyntaxError is a response that is not JSON.
type SyntaxError struct {
	Offset int64
	msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("acs: decode: %s at offset %d", e.msg, e.Offset)
}

// next reads the next token: a delimiter ('{', '}', '[', ']', ':', ','),
// tokString, tokNumber, tokLiteral (raw bytes in l.tok), or tokEOF at the
// clean end of the stream.
func (l *lexer) next() (byte, error) {
	for {
		c, ok := l.peek()
		if !ok {
			if l.rerr != nil && l.rerr != io.EOF {
				return 0, l.rerr
			}
			return tokEOF, nil
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			l.pos++
			continue
		case '{', '}', '[', ']', ':', ',':
			l.pos++
			return c, nil
		case '"':
			return tokString, l.str()
		case 't', 'f', 'n':
			return tokLiteral, l.literal()
		}
		if c == '-' || c >= '0' && c <= '9' {
			return tokNumber, l.number()
		}
		return 0, l.syntax("invalid character %q", c)
	}
}

// keep appends c to the token, refusing one longer than maxToken.
func (l *lexer) keep(c byte) error {
	if len(l.tok) >= l.maxToken {
		return &LimitError{Limit: "MaxTokenBytes", Max: int64(l.maxToken),
			what: fmt.Sprintf("a value longer than %d bytes at offset %d", l.maxToken, l.offset())}
	}
	l.tok = append(l.tok, c)
	return nil
}

// take consumes and keeps the next byte.
func (l *lexer) take() (byte, error) {
	c, ok := l.peek()
	if !ok {
		return 0, l.readErr()
	}
	l.pos++
	return c, l.keep(c)
}

func (l *lexer) str() error {
	l.tok, l.escaped = l.tok[:0], false
	if _, err := l.take(); err != nil { // the opening quote
		return err
	}
	for {
		c, err := l.take()
		if err != nil {
			return err
		}
		switch {
		case c == '"':
			return nil
		case c < 0x20:
			return l.syntax("invalid character %q in string literal", c)
		case c == '\\':
			l.escaped = true
			e, err := l.take()
			if err != nil {
				return err
			}
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for range 4 {
					h, err := l.take()
					if err != nil {
						return err
					}
					if !isHex(h) {
						return l.syntax("invalid character %q in \\u hexadecimal character escape", h)
					}
				}
			default:
				return l.syntax("invalid character %q in string escape code", e)
			}
		}
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; the byte
// after it is left for the next token (which must then be a delimiter).
func (l *lexer) number() error {
	l.tok = l.tok[:0]
	digits := func() (int, error) {
		n := 0
		for {
			c, ok := l.peek()
			if !ok || !isDigit(c) {
				return n, nil
			}
			if _, err := l.take(); err != nil {
				return n, err
			}
			n++
		}
	}
	optional := func(set string) (bool, error) {
		c, ok := l.peek()
		if !ok || !contains(set, c) {
			return false, nil
		}
		_, err := l.take()
		return true, err
	}
	if _, err := optional("-"); err != nil {
		return err
	}
	c, ok := l.peek()
	switch {
	case !ok:
		return l.readErr()
	case c == '0':
		if _, err := l.take(); err != nil {
			return err
		}
	case isDigit(c):
		if _, err := digits(); err != nil {
			return err
		}
	default:
		return l.syntax("invalid character %q in numeric literal", c)
	}
	for _, part := range []struct{ lead, sign string }{{".", ""}, {"eE", "+-"}} {
		ok, err := optional(part.lead)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		if part.sign != "" {
			if _, err := optional(part.sign); err != nil {
				return err
			}
		}
		n, err := digits()
		if err != nil {
			return err
		}
		if n == 0 {
			if _, ok := l.peek(); !ok {
				return l.readErr()
			}
			return l.syntax("invalid character in numeric literal")
		}
	}
	return nil
}

func contains(set string, c byte) bool {
	for i := range len(set) {
		if set[i] == c {
			return true
		}
	}
	return false
}

func (l *lexer) literal() error {
	l.tok = l.tok[:0]
	c, _ := l.peek()
	word := "null"
	switch c {
	case 't':
		word = "true"
	case 'f':
		word = "false"
	}
	for i := range len(word) {
		got, err := l.take()
		if err != nil {
			return err
		}
		if got != word[i] {
			return l.syntax("invalid character %q in literal %s", got, word)
		}
	}
	return nil
}

// errTrailing: something other than whitespace follows the document.
var errTrailing = errors.New("acs: decode: data after the JSON value")
