// Package results holds what a gate or a build tells the next step: named
// string values, bounded as Tekton bounds Task results, so the same values
// fit a CustomRun's status and a Task's result files.
package results

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Limits every door applies: a result larger than these is a mistake
// upstream (a whole log passed by value), refused rather than stored.
const (
	// MaxBytes bounds one value; it matches Tekton's default per-result
	// limit for TaskRuns, so a gate's results fit either door.
	MaxBytes = 4096
	// MaxTotalBytes bounds all results of one run together.
	MaxTotalBytes = 16 << 10
)

// Result is one named value.
type Result struct {
	Name  string
	Value string
}

// Results keeps the order the producer chose, which is the order users read.
type Results []Result

// Get returns the value of the named result and whether it was set.
func (rs Results) Get(name string) (string, bool) {
	for _, r := range rs {
		if r.Name == name {
			return r.Value, true
		}
	}
	return "", false
}

// Map returns the results by name.
func (rs Results) Map() map[string]string {
	m := make(map[string]string, len(rs))
	for _, r := range rs {
		m[r.Name] = r.Value
	}
	return m
}

// Check enforces the limits, and that each result has one name: a
// producer that breaks them has a bug, and the run says which result was
// wrong rather than being refused by the API server less helpfully.
func (rs Results) Check() error {
	total := 0
	seen := make(map[string]bool, len(rs))
	for _, r := range rs {
		if r.Name == "" {
			return errors.New("a result has no name")
		}
		if seen[r.Name] {
			return fmt.Errorf("result %q is set twice", r.Name)
		}
		seen[r.Name] = true
		if len(r.Value) > MaxBytes {
			return fmt.Errorf("result %q is %d bytes; the limit is %d", r.Name, len(r.Value), MaxBytes)
		}
		total += len(r.Value)
	}
	if total > MaxTotalBytes {
		return fmt.Errorf("results total %d bytes; the limit is %d", total, MaxTotalBytes)
	}
	return nil
}

// Fit cuts s to at most n bytes on a rune boundary, saying it was cut, so
// a long message still fits a result or a condition.
func Fit(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "… (cut)"
	cut := max(n-len(mark), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
