// Command e2e-controller is the controller the e2e tests run: the process
// of cmd/controller, with the test-only Echo kind added to the real list
// of kinds. It is a binary of its own, not the test binary re-executed,
// so what the tests measure of the controller (its memory above all) is
// the controller's and not the test framework's.
package main

import (
	"context"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/kinds/all"
	"github.com/modelguard/modelguard/pkg/reconciler/customrun"
	"github.com/modelguard/modelguard/pkg/reconciler/pipelinerun"
	"github.com/modelguard/modelguard/test/e2e/echo"
)

func main() {
	customrun.Main(func(ctx context.Context) []kinds.Kind { return append(all.Kinds(ctx), echo.Kind{}) }, pipelinerun.NewController)
}
