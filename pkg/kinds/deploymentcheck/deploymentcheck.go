// Package deploymentcheck is the DeploymentCheck custom-task kind: ACS
// deploy-time policies evaluated against the serving manifests before they
// are applied (roxctl deployment check), without a pod.
package deploymentcheck

import (
	"context"
	"strings"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/kinds/central"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

// Kind is DeploymentCheck.
type Kind struct {
	Central *central.Clients
}

func (*Kind) Name() string { return "DeploymentCheck" }

// manifestsLimit: serving manifests (InferenceService, Deployment,
// Service) are a few KiB; this leaves room for many without letting a
// param carry megabytes into a CustomRun.
const manifestsLimit = 256 << 10

func (*Kind) Params() []kinds.Param {
	return []kinds.Param{
		{Name: "manifests", Required: true, MaxBytes: manifestsLimit, Description: "the YAML to check: one or more documents separated by ---"},
		{Name: "namespace", Description: "the namespace the objects will live in (Central's default when empty)"},
		{Name: "categories", Type: v1beta1.ParamTypeArray, Description: "only policies in these categories"},
		{Name: "acs-secret", Description: "Secret with endpoint and token, in this namespace (default " + central.DefaultSecret + ")"},
		{Name: "cluster", Description: "evaluate with this secured cluster's context (RBAC, NetworkPolicies)"},
	}
}

// Plan checks params without I/O.
func (k *Kind) Plan(req kinds.Request) (kinds.Job, error) {
	yaml := req.Params.String("manifests", "")
	if strings.TrimSpace(yaml) == "" {
		return nil, kinds.Invalid("manifests", "is empty; give the InferenceService, Deployment or Service YAML to check")
	}
	dreq := acs.DeployRequest{YAML: yaml, Namespace: req.Params.String("namespace", ""),
		PolicyCategories: req.Params.Array("categories"), Cluster: req.Params.String("cluster", "")}
	secret := req.Params.String("acs-secret", central.DefaultSecret)
	return func(ctx context.Context) (kinds.Results, error) {
		client, err := k.Central.For(ctx, req.Namespace, secret)
		if err != nil {
			return nil, err
		}
		resp, err := client.DetectDeployYAML(ctx, dreq)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, central.Failed("deployment check", err)
		}
		report := gate.EvaluateDeploy(resp)
		res := central.DetectResults(report)
		if !report.Pass {
			return nil, kinds.Deny(report.Reason, res, "%s", report.Message)
		}
		return res, nil
	}, nil
}
