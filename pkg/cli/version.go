package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the release, stamped by ko (.ko.yaml) from hack/release;
// empty or "devel" in a build of a checkout, which reports what Go's
// build info knows instead.
var version string

type versionReport struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func (v versionReport) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "modelguard %s (%s, %s)\n", v.Version, v.GoVersion, v.Platform)
	return err
}

func newVersionCommand(opts *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the modelguard version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.print(cmd.OutOrStdout(), currentVersion())
		},
	}
}

func currentVersion() versionReport {
	v := versionReport{Version: "(devel)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if version != "" && version != "devel" {
		v.Version = version
	} else if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	return v
}
