// Package cli is the `modelguard` command: the door that Task steps and
// people use. Each subcommand parses flags, calls an engine package, and
// prints the answer as text or JSON. The exit code tells the two kinds of
// "no" apart:
//
//	0  done, and the answer is yes
//	1  could not run (bad flags, unreachable API, broken input)
//	2  ran, and a policy said no
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitError  = 1
	ExitDenied = 2
)

// DeniedError is returned by a subcommand whose work ran and whose answer
// is no. Its report has already been printed.
type DeniedError struct{ Reason string }

func (e *DeniedError) Error() string { return "denied: " + e.Reason }

// Execute runs the CLI with no standard input and returns the process
// exit code.
func Execute(args []string, stdout, stderr io.Writer) int {
	return ExecuteWithInput(args, strings.NewReader(""), stdout, stderr)
}

// ExecuteWithInput runs the CLI reading stdin (for "-f -") and returns the
// process exit code.
func ExecuteWithInput(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRoot(stdout, stderr)
	root.SetIn(stdin)
	root.SetArgs(args)
	return exitCode(root.Execute(), stderr)
}

// exitCode maps a command's error to the exit code and says why on stderr.
func exitCode(err error, stderr io.Writer) int {
	var denied *DeniedError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &denied):
		fmt.Fprintln(stderr, "modelguard:", denied.Error())
		return ExitDenied
	default:
		fmt.Fprintln(stderr, "modelguard:", err)
		return ExitError
	}
}

// NewRoot builds the command tree. Subcommands are added by the engines'
// issues (guard, acs, build); each is one file here.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	opts := &globalOptions{output: "text"}
	root := &cobra.Command{
		Use:   "modelguard",
		Short: "Build, scan, sign and guard AI model-serving images in Tekton pipelines",
		Long: `modelguard runs the same engines as the modelguard Tekton custom-task
controller, for Task steps and for people at a terminal.

Exit codes: 0 success, 1 could not run, 2 a policy said no.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return opts.validate(cmd)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&opts.output, "output", "o", opts.output, "output format: text (or table), json; the acs commands also sarif and junit")
	root.AddCommand(newVersionCommand(opts), newGuardCommand(opts), newBuildCommand(opts), newACSCommand(opts), newServeCommand(opts), newDeployCommand(opts),
		newVerifyCommand(opts), newSignCommand(opts), newAttestCommand(opts), newPolicyCommand(opts), newFetchCommand(opts))
	return root
}

type globalOptions struct {
	output string
}
