// Command controller serves modelguard's custom-task kinds
// (apiVersion modelguard.dev/v1alpha1) as Tekton CustomRuns.
package main

import (
	"github.com/modelguard/modelguard/pkg/kinds/all"
	"github.com/modelguard/modelguard/pkg/reconciler/customrun"
)

func main() {
	customrun.Main(all.Kinds)
}
