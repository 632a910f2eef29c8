// Command modelguard is the CLI that modelguard's Tasks run in their steps
// and people run by hand. See `modelguard --help`.
package main

import (
	"os"

	"github.com/modelguard/modelguard/pkg/cli"
)

func main() {
	os.Exit(cli.ExecuteWithInput(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
