package gate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/modelguard/modelguard/pkg/acs"
)

// ViolatedPolicy is one policy an image or a deployment broke.
type ViolatedPolicy struct {
	Name        string   `json:"name"`
	Severity    string   `json:"severity"`
	Description string   `json:"description,omitempty"`
	Remediation string   `json:"remediation,omitempty"`
	Violations  []string `json:"violation"`
	// Breaking: the policy's enforcement stops the pipeline (roxctl's
	// failingCheck).
	Breaking bool   `json:"failingCheck"`
	Object   string `json:"object,omitempty"` // the deployment, for deploy checks
}

// DetectReport is the gate's view of a build- or deploy-time check.
type DetectReport struct {
	Violated []ViolatedPolicy `json:"violatedPolicies"`
	Verdict
	// Sources maps each checked object (Kind/name) to the manifest source
	// it came from, for reports that point at a file.
	Sources map[string]string `json:"-"`
}

// Reasons a check says no.
const (
	ReasonBuildPolicy  = "PolicyFailsBuild"
	ReasonDeployPolicy = "PolicyBlocksDeployment"
)

// EvaluateBuild applies roxctl's rule for `image check`: the build fails
// when a violated policy carries FAIL_BUILD_ENFORCEMENT.
func EvaluateBuild(resp *acs.BuildDetectionResponse) DetectReport {
	var alerts []acs.Alert
	if resp != nil {
		alerts = resp.Alerts
	}
	return judge(alerts, "", ReasonBuildPolicy, "the build", acs.EnforcementFailBuild)
}

// EvaluateDeploy applies roxctl's rule for `deployment check` (scale to
// zero) and also fails on FAIL_DEPLOYMENT_CREATE_ENFORCEMENT, which the
// admission controller would use to refuse the same objects.
func EvaluateDeploy(resp *acs.DeployDetectionResponse) DetectReport {
	var all DetectReport
	if resp == nil {
		return judge(nil, "", ReasonDeployPolicy, "the deployment", acs.EnforcementScaleToZero)
	}
	for _, run := range resp.Runs {
		r := judge(run.Alerts, run.Type+"/"+run.Name, ReasonDeployPolicy, "the deployment", acs.EnforcementScaleToZero, acs.EnforcementFailDeploymentCreate)
		all.Violated = append(all.Violated, r.Violated...)
	}
	return verdict(all.Violated, ReasonDeployPolicy, "the deployment")
}

func judge(alerts []acs.Alert, object, reason, what string, breaking ...acs.EnforcementAction) DetectReport {
	var out []ViolatedPolicy
	for _, a := range alerts {
		if a.Policy == nil {
			continue
		}
		vp := ViolatedPolicy{Name: a.Policy.Name, Severity: strings.TrimSuffix(string(a.Policy.Severity), "_SEVERITY"),
			Description: a.Policy.Description, Remediation: a.Policy.Remediation, Object: object}
		for _, v := range a.Violations {
			vp.Violations = append(vp.Violations, v.Message)
		}
		for _, e := range a.Policy.EnforcementActions {
			for _, b := range breaking {
				vp.Breaking = vp.Breaking || e == b
			}
		}
		out = append(out, vp)
	}
	return verdict(out, reason, what)
}

func verdict(v []ViolatedPolicy, reason, what string) DetectReport {
	sort.SliceStable(v, func(i, j int) bool {
		if v[i].Breaking != v[j].Breaking {
			return v[i].Breaking
		}
		return v[i].Name < v[j].Name
	})
	r := DetectReport{Violated: v, Verdict: Verdict{Outcome: Pass}}
	var breaking []string
	for _, p := range v {
		if p.Breaking {
			breaking = append(breaking, p.Name)
		}
	}
	switch {
	case len(breaking) > 0:
		r.Outcome, r.Reason = Fail, reason
		r.Message = fmt.Sprintf("%d policy(ies) with enforcement stop %s: %s", len(breaking), what, strings.Join(breaking, ", "))
	case len(v) > 0:
		r.Message = fmt.Sprintf("%d policy(ies) violated, none enforced on %s", len(v), what)
	default:
		r.Message = "no policy violated"
	}
	return r
}
