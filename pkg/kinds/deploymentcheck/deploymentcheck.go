// Package deploymentcheck is the DeploymentCheck custom-task kind: ACS
// deploy-time policies evaluated against the serving manifests before they
// are applied (roxctl deployment check), without a pod.
package deploymentcheck

import (
	"context"
	"strings"

	"github.com/modelguard/modelguard/pkg/central"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// Kind is DeploymentCheck.
type Kind struct {
	Central *central.Clients
	// Kube reads manifests from ConfigMaps in the CustomRun's namespace.
	Kube kubernetes.Interface
}

func (*Kind) Name() string { return "DeploymentCheck" }

// manifestsLimit: serving manifests (InferenceService, Deployment,
// Service) are a few KiB; this leaves room for many without letting a
// param carry megabytes into a CustomRun.
const manifestsLimit = 256 << 10

func (*Kind) Params() []kinds.Param {
	return append([]kinds.Param{
		{Name: "manifests", MaxBytes: manifestsLimit, Description: "the YAML to check: one or more documents separated by --- (or give manifests-configmap)"},
		{Name: "manifests-configmap", Description: "a ConfigMap in this namespace whose .yaml/.yml/.json keys hold the manifests (instead of manifests)"},
		{Name: "manifests-key", Description: "with manifests-configmap: check only this key"},
		{Name: "namespace", Description: "the namespace the objects will live in (Central's default when empty)"},
		{Name: "categories", Type: v1beta1.ParamTypeArray, Description: "only policies in these categories"},
	}, kinds.ACSParams("evaluate with its context (RBAC, NetworkPolicies)")...)
}

// source says where the manifests come from: inline, or a ConfigMap that
// is read when the job runs (so a retry sees an edited ConfigMap).
type source struct {
	inline, configMap, key string
}

func planSource(v kinds.Values) (source, error) {
	s := source{inline: v.String("manifests", ""), configMap: v.String("manifests-configmap", ""), key: v.String("manifests-key", "")}
	inline := strings.TrimSpace(s.inline) != ""
	switch {
	case inline && s.configMap != "":
		return s, kinds.Invalid("manifests-configmap", "give either manifests or manifests-configmap, not both")
	case !inline && s.configMap == "" && v.Has("manifests"):
		return s, kinds.Invalid("manifests", "is empty; give the InferenceService, Deployment or Service YAML to check")
	case !inline && s.configMap == "":
		return s, kinds.Invalid("manifests", "is required (or manifests-configmap): the InferenceService, Deployment or Service YAML to check")
	case s.configMap != "" && len(validation.IsDNS1123Subdomain(s.configMap)) > 0:
		return s, kinds.Invalid("manifests-configmap", "%s is not a valid ConfigMap name", kinds.Quote(s.configMap))
	case s.key != "" && s.configMap == "":
		return s, kinds.Invalid("manifests-key", "is only used with manifests-configmap")
	case s.key != "" && len(validation.IsConfigMapKey(s.key)) > 0:
		return s, kinds.Invalid("manifests-key", "%s is not a valid ConfigMap key", kinds.Quote(s.key))
	}
	return s, nil
}

// Plan checks params without I/O.
func (k *Kind) Plan(req kinds.Request) (kinds.Job, error) {
	src, err := planSource(req.Params)
	if err != nil {
		return nil, err
	}
	in := gate.DeploymentCheckInput{Namespace: req.Params.String("namespace", ""),
		Categories: req.Params.Array("categories"), Cluster: req.Params.String("cluster", "")}
	secret := req.Params.String("acs-secret", central.DefaultSecret)
	return func(ctx context.Context) (results.Results, error) {
		var r gate.DetectReport
		if in.Manifests, err = k.manifests(ctx, req.Namespace, src); err != nil {
			r.Verdict = gate.CouldNotRun(gate.ReasonManifests, err)
		} else {
			r = gate.CheckDeployment(ctx, k.Central.For(ctx, req.Namespace, secret), in)
		}
		return kinds.FromGate(ctx, r.Verdict, r.Results())
	}, nil
}
