// Command controller serves modelguard's custom-task kinds
// (apiVersion modelguard.dev/v1alpha1) as Tekton CustomRuns, and writes
// the provenance of finished PipelineRuns in namespaces that opted in.
package main

import (
	"github.com/modelguard/modelguard/pkg/kinds/all"
	"github.com/modelguard/modelguard/pkg/reconciler/customrun"
	"github.com/modelguard/modelguard/pkg/reconciler/pipelinerun"
)

func main() {
	customrun.Main(all.Kinds, pipelinerun.NewController)
}
