package cli

import (
	"encoding/json"
	"fmt"
	"io"
)

// textReport is implemented by reports that have a human-readable form.
type textReport interface {
	WriteText(w io.Writer) error
}

// print writes a report in the chosen format. JSON is indented and ends
// with a newline so it pipes cleanly into jq.
func (o *globalOptions) print(w io.Writer, report any) error {
	if o.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	if t, ok := report.(textReport); ok {
		return t.WriteText(w)
	}
	_, err := fmt.Fprintln(w, report)
	return err
}
