package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/modelguard/modelguard/pkg/gate"
)

// readManifests reads -f arguments: files, directories (their YAML and
// JSON files, sorted) or "-" for stdin. It only reads, stopping a little
// past gate.MaxManifestBytes so a huge file is not read whole; the gate
// checks what was read, with the same rules as the custom task's.
func readManifests(args []string, stdin io.Reader) ([]gate.Manifest, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("--file is required: the manifests to check (files, directories or -)")
	}
	var out []gate.Manifest
	total := 0
	add := func(name string, r io.Reader) error {
		b, err := io.ReadAll(io.LimitReader(r, int64(gate.MaxManifestBytes+1-total)))
		if err != nil {
			return &unreadableError{fmt.Errorf("--file %s: %w", name, err)}
		}
		total += len(b)
		out = append(out, gate.Manifest{Source: name, YAML: string(b)})
		return nil
	}
	for _, arg := range args {
		if arg == "-" {
			if err := add("-", stdin); err != nil {
				return nil, err
			}
			continue
		}
		files, err := manifestFiles(arg)
		if err != nil {
			return nil, &unreadableError{err}
		}
		for _, name := range files {
			f, err := os.Open(name)
			if err != nil {
				return nil, &unreadableError{fmt.Errorf("--file %w", err)}
			}
			err = add(name, f)
			f.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func manifestFiles(arg string) ([]string, error) {
	info, err := os.Stat(arg)
	if err != nil {
		return nil, fmt.Errorf("--file %w", err)
	}
	if !info.IsDir() {
		return []string{arg}, nil
	}
	entries, err := os.ReadDir(arg)
	if err != nil {
		return nil, fmt.Errorf("--file %w", err)
	}
	var out []string
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				out = append(out, filepath.Join(arg, e.Name()))
			}
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("--file %s: directory has no .yaml, .yml or .json files", arg)
	}
	return out, nil
}
