// Package all lists the custom-task kinds modelguard serves. It lives
// apart from pkg/kinds so kind packages can import pkg/kinds without a
// cycle, and apart from cmd/controller so the e2e tests can run the real
// list plus a test-only kind in the same controller process.
package all

import "github.com/modelguard/modelguard/pkg/kinds"

// Kinds returns every kind, in the order the reference documents them.
// Kinds arrive with their issues (NamespaceGuard, ImageScan, ImageCheck,
// DeploymentCheck); a CustomRun naming a kind not listed here fails with
// reason UnknownKind.
func Kinds() []kinds.Kind {
	return nil
}
