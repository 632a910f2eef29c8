// Command controller serves modelguard's custom-task kinds
// (apiVersion modelguard.dev/v1alpha1) as Tekton CustomRuns, and writes
// the provenance of finished PipelineRuns in namespaces that opted in.
package main

import (
	"fmt"
	"os"

	"github.com/modelguard/modelguard/pkg/kinds/all"
	"github.com/modelguard/modelguard/pkg/reconciler/customrun"
	"github.com/modelguard/modelguard/pkg/reconciler/pipelinerun"
)

// version is the release, stamped by ko (.ko.yaml) from hack/release.
var version = "devel"

func main() {
	fmt.Fprintf(os.Stderr, "modelguard controller %s\n", version)
	customrun.Main(all.Kinds, pipelinerun.NewController)
}
