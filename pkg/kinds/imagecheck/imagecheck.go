// Package imagecheck is the ImageCheck custom-task kind: ACS build-time
// policies evaluated against an image (roxctl image check), without a pod
// (gate.CheckImage).
package imagecheck

import (
	"context"

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
	ps := append(kinds.ImageParams("check"),
		kinds.Param{Name: "categories", Type: v1beta1.ParamTypeArray, Description: "only policies in these categories (default: all enabled build-time policies)"})
	return append(ps, kinds.ACSParams("check")...)
}

// Plan checks params without I/O.
func (k *Kind) Plan(req kinds.Request) (kinds.Job, error) {
	image, allowTag, err := kinds.Image(req.Params)
	if err != nil {
		return nil, err
	}
	in := gate.ImageCheckInput{Image: image, AllowTag: allowTag, Cluster: req.Params.String("cluster", ""), Categories: req.Params.Array("categories")}
	secret := req.Params.String("acs-secret", central.DefaultSecret)
	return func(ctx context.Context) (results.Results, error) {
		r := gate.CheckImage(ctx, k.Central.For(ctx, req.Namespace, secret), in)
		return kinds.FromGate(ctx, r.Verdict, r.Results())
	}, nil
}
