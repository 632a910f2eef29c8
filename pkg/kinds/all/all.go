// Package all lists the custom-task kinds modelguard serves. It lives
// apart from pkg/kinds so kind packages can import pkg/kinds without a
// cycle, and apart from cmd/controller so the e2e tests can run the real
// list plus a test-only kind in the same controller process.
package all

import (
	"context"
	"time"

	"github.com/modelguard/modelguard/pkg/central"
	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/kinds/deploymentcheck"
	"github.com/modelguard/modelguard/pkg/kinds/imagecheck"
	"github.com/modelguard/modelguard/pkg/kinds/imagescan"
	"github.com/modelguard/modelguard/pkg/kinds/namespaceguard"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	"knative.dev/pkg/injection/clients/dynamicclient"
)

// Kinds returns every kind, wired to the clients in the injection context.
func Kinds(ctx context.Context) []kinds.Kind {
	engine := &guard.Engine{Kube: kubeclient.Get(ctx), Dynamic: dynamicclient.Get(ctx)}
	acs := &central.Clients{Kube: kubeclient.Get(ctx), ReuseWindow: 10 * time.Minute}
	return []kinds.Kind{
		&namespaceguard.Kind{Engine: engine},
		&imagescan.Kind{Central: acs},
		&imagecheck.Kind{Central: acs},
		&deploymentcheck.Kind{Central: acs, Kube: kubeclient.Get(ctx)},
	}
}
