package acs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Int64 is an int64 as grpc-gateway writes it: a JSON string ("priority":
// "0"), because JavaScript numbers lose precision past 2^53. It decodes from a
// string or a bare number (other encoders, and hand-written fixtures, use
// numbers) and encodes as a string, so a value read from Central can be
// written back in Central's own form (the test emulator relies on that).
type Int64 int64

// Uint64 is the unsigned counterpart of Int64 (image metadata version, scan
// hash).
type Uint64 uint64

// UnmarshalJSON accepts "123", 123 and null (null leaves the value alone, as
// encoding/json does for other types).
func (n *Int64) UnmarshalJSON(b []byte) error {
	s, ok, err := intText(b)
	if err != nil || !ok {
		return err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("acs: int64 value %s: %w", clip(b), err)
	}
	*n = Int64(v)
	return nil
}

// MarshalJSON writes the value as a quoted decimal, as Central does.
func (n Int64) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatInt(int64(n), 10)), nil
}

// UnmarshalJSON accepts "123", 123 and null.
func (n *Uint64) UnmarshalJSON(b []byte) error {
	s, ok, err := intText(b)
	if err != nil || !ok {
		return err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("acs: uint64 value %s: %w", clip(b), err)
	}
	*n = Uint64(v)
	return nil
}

// MarshalJSON writes the value as a quoted decimal, as Central does.
func (n Uint64) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatUint(uint64(n), 10)), nil
}

// intText returns the digits of a JSON string or number; ok is false for
// null. encoding/json has already checked that b is one valid JSON value.
func intText(b []byte) (s string, ok bool, err error) {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return "", false, nil
	case len(b) > 0 && b[0] == '"':
		if err := json.Unmarshal(b, &s); err != nil {
			return "", false, fmt.Errorf("acs: integer value %s: %w", clip(b), err)
		}
		return s, true, nil
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		return string(b), true, nil
	default:
		return "", false, fmt.Errorf("acs: integer value %s: want a string or a number", clip(b))
	}
}

// clip keeps error messages short when a fuzzer or a broken proxy sends a
// long value.
func clip(b []byte) string {
	const limit = 32
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}
