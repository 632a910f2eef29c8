package acs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The runtime lists (alerts, process groups) are read one element at a
// time (decodeList, bounds.go) with json.Decoder's tokens; these are the
// pieces of that walk.

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
