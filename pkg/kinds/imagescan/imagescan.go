// Package imagescan is the ImageScan custom-task kind: scan an image by
// digest through ACS Central and gate on severity, fixability and an
// allow-list with expiry dates, without a pod (gate.Scan).
package imagescan

import (
	"context"
	"errors"
	"time"

	"github.com/modelguard/modelguard/pkg/central"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

// Kind is ImageScan.
type Kind struct {
	Central *central.Clients
	Now     func() time.Time // decides which allow-list entries expired
}

func (*Kind) Name() string { return "ImageScan" }

func (*Kind) Params() []kinds.Param {
	ps := append(kinds.ImageParams("scan"),
		kinds.Param{Name: "severity", Description: "fail on CVEs at or above: LOW, MODERATE, IMPORTANT, CRITICAL (default CRITICAL)"},
		kinds.Param{Name: "fixable-only", Description: `"true": only CVEs with a fixed version fail the gate`},
		kinds.Param{Name: "accept-index", Description: `"true": the image is a multi-arch index; Central's scan of the platform manifest it resolves stands for it`},
		kinds.Param{Name: "allow", Type: v1beta1.ParamTypeArray, Description: "accepted CVEs: CVE-ID,YYYY-MM-DD,reason (expires after that day)"},
	)
	return append(ps, kinds.ACSParams("scan")...)
}

// Plan checks params without I/O.
func (k *Kind) Plan(req kinds.Request) (kinds.Job, error) {
	var in gate.ScanInput
	var errs []error
	var err error
	in.Image, in.AllowTag, err = kinds.Image(req.Params)
	errs = append(errs, err)
	in.Cluster = req.Params.String("cluster", "")
	if sev := req.Params.String("severity", "CRITICAL"); sev != "" {
		if in.Policy.Threshold, err = gate.ParseSeverity(sev); err != nil {
			errs = append(errs, kinds.Invalid("severity", "%v", err))
		}
	}
	in.Policy.FixableOnly, err = req.Params.Bool("fixable-only", false)
	errs = append(errs, err)
	in.AcceptIndex, err = req.Params.Bool("accept-index", false)
	errs = append(errs, err)
	for _, a := range req.Params.Array("allow") {
		allow, err := gate.ParseAllow(a)
		if err != nil {
			errs = append(errs, kinds.Invalid("allow", "%v", err))
			continue
		}
		in.Policy.Allow = append(in.Policy.Allow, allow)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	secret := req.Params.String("acs-secret", central.DefaultSecret)
	return func(ctx context.Context) (results.Results, error) {
		in.Policy.Now = k.now()
		r := gate.Scan(ctx, k.Central.For(ctx, req.Namespace, secret), in)
		return kinds.FromGate(ctx, r.Verdict, r.Results())
	}, nil
}

func (k *Kind) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}
