package tools

import (
	"context"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// PolicyControllerWebhookCmd is sigstore policy-controller's webhook, the
// image its release Deployment names as ko://github.com/sigstore/policy-controller/cmd/webhook.
const PolicyControllerWebhookCmd = "github.com/sigstore/policy-controller/cmd/webhook"

// policyControllerImage builds in a module of its own (its knative and
// Kubernetes versions are older than the project's). Besides its own
// replace directives (glog, code-generator) it needs one more: the
// go-containerregistry k8schain/kubernetes pseudo-version it asks for is
// refused by the module proxy, and another tried fails checksum
// verification; this one is served and builds.
var policyControllerImage = wrapperImage{
	what: "policy-controller " + PolicyControllerVersion + " webhook", name: "policy-controller",
	module: "github.com/sigstore/policy-controller", version: PolicyControllerVersion,
	cmd: PolicyControllerWebhookCmd, layout: "policy-controller-webhook", took: "~3 min",
	extra: []string{
		"github.com/google/go-containerregistry/pkg/authn/k8schain => github.com/google/go-containerregistry/pkg/authn/k8schain v0.0.0-20250613215107-59a4b8593039",
		"github.com/google/go-containerregistry/pkg/authn/kubernetes => github.com/google/go-containerregistry/pkg/authn/kubernetes v0.0.0-20250613215107-59a4b8593039",
	},
}

// EnsurePolicyControllerImage builds (once per machine, cached by version)
// the policy-controller webhook image and returns where it is cached;
// `make tools` calls it.
func EnsurePolicyControllerImage(ctx context.Context, log io.Writer) (string, error) {
	t, err := EnsureNode(ctx, log)
	if err != nil {
		return "", err
	}
	_, dir, err := PolicyControllerImage(ctx, t, log)
	return dir, err
}

// PolicyControllerImage returns the webhook image from its cache, building
// it first if needed.
func PolicyControllerImage(ctx context.Context, t *Tools, log io.Writer) (v1.Image, string, error) {
	return policyControllerImage.image(ctx, t, log)
}
