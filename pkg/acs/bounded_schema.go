package acs

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// schema is what the bounded decoder knows of a Go type: for a struct, its
// fields by JSON name, matched as encoding/json matches them (the exact
// name first, then a case-insensitive match).
type schema struct {
	byExact  map[string]*fieldInfo
	byFolded map[string]*fieldInfo
}

type fieldInfo struct {
	name  string // the JSON name, for paths in messages
	index int
	max   int // the field's `max:"N"` tag: elements of a slice, members of a map; 0 means Limits.MaxItems
}

var schemas sync.Map // reflect.Type → *schema or error

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// scalarOnly reports types that decode themselves (Int64, time.Time,
// json.RawMessage): the bounded decoder hands them one scalar token and
// refuses an object or array for them, which their UnmarshalJSON would
// refuse too.
func scalarOnly(t reflect.Type) bool {
	return t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) ||
		t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType)
}

var checked sync.Map // reflect.Type → error (nil when supported)

func checkTypeOnce(t reflect.Type) error {
	if err, ok := checked.Load(t); ok {
		e, _ := err.(error)
		return e
	}
	err := checkType(t)
	checked.Store(t, err)
	return err
}

// checkType fails for a type the bounded decoder cannot decode as
// encoding/json would: interfaces, arrays, byte slices, embedded fields,
// map keys other than plain strings. Response types use none of them.
func checkType(t reflect.Type) error {
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type) error
	walk = func(t reflect.Type) error {
		if seen[t] || scalarOnly(t) {
			return nil
		}
		seen[t] = true
		switch t.Kind() {
		case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return nil
		case reflect.Pointer:
			return walk(t.Elem())
		case reflect.Slice:
			if t.Elem().Kind() == reflect.Uint8 {
				return fmt.Errorf("byte slice %v", t)
			}
			return walk(t.Elem())
		case reflect.Map:
			if t.Key().Kind() != reflect.String || scalarOnly(t.Key()) {
				return fmt.Errorf("map key %v", t.Key())
			}
			return walk(t.Elem())
		case reflect.Struct:
			s, err := schemaOf(t)
			if err != nil {
				return err
			}
			for _, f := range s.byExact {
				if err := walk(t.Field(f.index).Type); err != nil {
					return err
				}
			}
			return nil
		}
		return fmt.Errorf("%v", t)
	}
	if err := walk(t); err != nil {
		return fmt.Errorf("acs: decode: type %v is not supported by the bounded decoder: %w", t, err)
	}
	return nil
}

func schemaOf(t reflect.Type) (*schema, error) {
	if s, ok := schemas.Load(t); ok {
		if err, ok := s.(error); ok {
			return nil, err
		}
		return s.(*schema), nil
	}
	s, err := buildSchema(t)
	if err != nil {
		schemas.Store(t, err)
		return nil, err
	}
	schemas.Store(t, s)
	return s, nil
}

func buildSchema(t reflect.Type) (*schema, error) {
	s := &schema{byExact: map[string]*fieldInfo{}, byFolded: map[string]*fieldInfo{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			return nil, fmt.Errorf("embedded field %s.%s", t, sf.Name)
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",string,") {
			return nil, fmt.Errorf("field %s.%s: the ,string option", t, sf.Name)
		}
		if name == "" {
			name = sf.Name
		}
		f := &fieldInfo{name: name, index: i}
		if m := sf.Tag.Get("max"); m != "" {
			n, err := strconv.Atoi(m)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("field %s.%s: max tag %q", t, sf.Name, m)
			}
			f.max = n
		}
		if _, dup := s.byExact[name]; dup {
			return nil, fmt.Errorf("two fields named %q in %s", name, t)
		}
		s.byExact[name] = f
		// As encoding/json: the first field wins a case-insensitive tie.
		if k := foldName(name); s.byFolded[k] == nil {
			s.byFolded[k] = f
		}
	}
	return s, nil
}

// field finds the field a key decodes into, as encoding/json does. It
// allocates nothing for keys of up to 64 bytes.
func (s *schema) field(key []byte) *fieldInfo {
	if f := s.byExact[string(key)]; f != nil {
		return f
	}
	var buf [64]byte
	return s.byFolded[string(appendFolded(buf[:0], key))]
}

// foldName is encoding/json's key folding: ASCII upper-cased, other runes
// mapped to the smallest rune of their Unicode simple-fold set.
func foldName(in string) string { return string(appendFolded(nil, []byte(in))) }

func appendFolded(out, in []byte) []byte {
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	return out
}
