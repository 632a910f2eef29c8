package gate

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/results"
)

// ImageCheckInput is what the ImageCheck gate is asked.
type ImageCheckInput struct {
	Image      string // pinned by digest, unless AllowTag
	AllowTag   bool
	Cluster    string
	Categories []string // only policies in these categories
}

// CheckImage is the ImageCheck gate, `roxctl image check`: Central
// evaluates its enabled build-time policies against the image, and a
// violated policy with FAIL_BUILD_ENFORCEMENT fails it. The image is
// scanned first, because Central's build-time detection passes an image
// it has no scan data for.
func CheckImage(ctx context.Context, c Central, in ImageCheckInput) DetectReport {
	what := "check " + in.Image
	if err := CheckImageRef(in.Image, in.AllowTag); err != nil {
		return DetectReport{Verdict: CouldNotRun(ReasonInput, fmt.Errorf("image %v", err))}
	}
	img, err := c.ScanImage(ctx, acs.ScanRequest{Image: in.Image, Cluster: in.Cluster})
	switch {
	case err != nil:
		return DetectReport{Verdict: centralFailed(what, err)}
	case img.Scan == nil:
		return DetectReport{Verdict: Verdict{Outcome: Fail, Reason: ReasonNoScanData,
			Message: fmt.Sprintf("Central has no scan data for %s, and its build-time check would pass it unchecked", in.Image)}}
	}
	resp, err := c.DetectBuild(ctx, acs.BuildRequest{Image: in.Image, PolicyCategories: in.Categories, Cluster: in.Cluster})
	if err != nil {
		return DetectReport{Verdict: centralFailed(what, err)}
	}
	return EvaluateBuild(resp)
}

// DeploymentCheckInput is what the DeploymentCheck gate is asked.
type DeploymentCheckInput struct {
	Manifests  []Manifest
	Namespace  string // where the objects will live (Central's default when empty)
	Cluster    string
	Categories []string
}

// CheckDeployment is the DeploymentCheck gate, `roxctl deployment check`:
// Central evaluates its deploy-time policies against the manifests before
// they are applied (EvaluateDeploy) — InferenceServices as the Deployment
// KServe would make of them — and the gate fails when Central checked less
// than it was given (judgeCoverage).
func CheckDeployment(ctx context.Context, c Central, in DeploymentCheckInput) DetectReport {
	set, err := parseManifests(in.Manifests)
	if err != nil {
		return DetectReport{Verdict: CouldNotRun(ReasonInput, err)}
	}
	ren := renderInferenceServices(set, in.Namespace)
	resp, err := c.DetectDeployYAML(ctx, acs.DeployRequest{YAML: acs.JoinYAML(append([]string{set.yaml}, ren.yaml...)...),
		Namespace: in.Namespace, PolicyCategories: in.Categories, Cluster: in.Cluster})
	if err != nil {
		return DetectReport{Verdict: centralFailed("deployment check", err), Sources: set.objects}
	}
	r := EvaluateDeploy(resp)
	r.Sources = set.objects
	for i, p := range r.Violated {
		// A policy broken by a rendered Deployment is the InferenceService's.
		if isvc, ok := ren.renderedAs[p.Object]; ok {
			r.Violated[i].Object = isvc + " (as the " + p.Object + " KServe makes of it)"
			r.Sources[r.Violated[i].Object] = set.objects[isvc]
		}
	}
	return judgeCoverage(r, resp, ren)
}

// DetectResultNames are the results of ImageCheck and DeploymentCheck.
var DetectResultNames = names(DetectReport{}.Results())

// Results are always all written: the outcome and reason, the violated
// and the enforcement-breaking policies (one per line), and a summary.
func (r DetectReport) Results() results.Results {
	var violated, breaking []string
	for _, p := range r.Violated {
		violated = append(violated, p.Name)
		if p.Breaking {
			breaking = append(breaking, p.Name)
		}
	}
	return r.Verdict.results(
		results.Result{Name: "violated-policies", Value: results.Fit(strings.Join(violated, "\n"), 1536)},
		results.Result{Name: "breaking-policies", Value: results.Fit(strings.Join(breaking, "\n"), 1024)})
}
