// Package imagecheck is the ImageCheck custom-task kind: evaluate ACS
// build-time policies against an image (roxctl image check), without a pod.
package imagecheck

import (
	"context"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/central"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

// Kind is ImageCheck.
type Kind struct {
	Central *central.Clients
}

func (*Kind) Name() string { return "ImageCheck" }

func (*Kind) Params() []kinds.Param {
	return append(central.ImageParams("check"),
		kinds.Param{Name: "categories", Type: v1beta1.ParamTypeArray, Description: "only policies in these categories (default: all enabled build-time policies)"},
		kinds.Param{Name: "acs-secret", Description: "Secret with endpoint and token, in this namespace (default " + central.DefaultSecret + ")"},
		kinds.Param{Name: "cluster", Description: "delegate to this secured cluster (for registries only it can reach)"},
	)
}

type spec struct {
	image, secret, cluster string
	categories             []string
}

// Plan checks params without I/O.
func (k *Kind) Plan(req kinds.Request) (kinds.Job, error) {
	image, err := central.Image(req.Params)
	if err != nil {
		return nil, err
	}
	s := spec{image: image, secret: req.Params.String("acs-secret", central.DefaultSecret),
		cluster: req.Params.String("cluster", ""), categories: req.Params.Array("categories")}
	return func(ctx context.Context) (results.Results, error) { return k.run(ctx, req.Namespace, s) }, nil
}

// run scans first: Central's build-time detection passes an image it has
// no scan data for, so a check alone would wave through an unscanned image.
func (k *Kind) run(ctx context.Context, ns string, s spec) (results.Results, error) {
	client, err := k.Central.For(ctx, ns, s.secret)
	if err != nil {
		return nil, err
	}
	img, err := client.ScanImage(ctx, acs.ScanRequest{Image: s.image, Cluster: s.cluster})
	if err == nil && img.Scan == nil {
		return nil, kinds.Deny(gate.ReasonNoScanData, nil, "Central has no scan data for %s, and its build-time check would pass it unchecked", s.image)
	}
	var resp *acs.BuildDetectionResponse
	if err == nil {
		resp, err = client.DetectBuild(ctx, acs.BuildRequest{Image: s.image, PolicyCategories: s.categories, Cluster: s.cluster})
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, central.Failed("check "+s.image, err)
	}
	report := gate.EvaluateBuild(resp)
	res := central.DetectResults(report)
	if !report.Pass {
		return nil, kinds.Deny(report.Reason, res, "%s", report.Message)
	}
	return res, nil
}
