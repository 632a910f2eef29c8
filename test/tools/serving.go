package tools

import (
	"context"
	"fmt"
)

// The commands of Tekton Triggers that a cluster runs: the controller
// (EventListener → Deployment and Service), the EventListener's sink (what
// receives the webhook) and the core interceptors (github, gitlab, cel, ...).
const (
	TriggersControllerCmd   = "github.com/tektoncd/triggers/cmd/controller"
	TriggersSinkCmd         = "github.com/tektoncd/triggers/cmd/eventlistenersink"
	TriggersInterceptorsCmd = "github.com/tektoncd/triggers/cmd/interceptors"
	// KServeManagerCmd is KServe's controller manager: the InferenceService
	// reconciler and the webhooks (the pod mutator injects the modelcar).
	KServeManagerCmd = "github.com/kserve/kserve/cmd/manager"
)

// buildTriggers builds the three Triggers commands in one go build, in a
// wrapper module that repeats the triggers module's replace directive.
func (b *builder) buildTriggers(ctx context.Context, t *Tools) error {
	fmt.Fprintf(b.log, "tools: building tekton triggers %s (first run on this machine, ~2 min)\n", TriggersVersion)
	dir, err := b.replacingWrapper(ctx, "triggers", "github.com/tektoncd/triggers", TriggersVersion, nil,
		TriggersControllerCmd, TriggersSinkCmd, TriggersInterceptorsCmd)
	if err != nil {
		return err
	}
	return b.buildInto(ctx, dir, []string{"-ldflags", "-s -w"}, map[string]string{
		TriggersControllerCmd:   t.TriggersController,
		TriggersSinkCmd:         t.TriggersSink,
		TriggersInterceptorsCmd: t.TriggersInterceptors,
	})
}

// buildKServe builds KServe's manager in a wrapper module that repeats
// KServe's replace and exclude directives (controller-runtime, expr and
// protoc-gen-validate pins; a grpc sub-module that does not exist).
func (b *builder) buildKServe(ctx context.Context, t *Tools) error {
	fmt.Fprintf(b.log, "tools: building the kserve manager %s (first run on this machine, ~2.5 min)\n", KServeVersion)
	dir, err := b.replacingWrapper(ctx, "kserve", "github.com/kserve/kserve", KServeVersion, nil, KServeManagerCmd)
	if err != nil {
		return err
	}
	return b.buildInto(ctx, dir, []string{"-ldflags", "-s -w"}, map[string]string{KServeManagerCmd: t.KServeManager})
}
