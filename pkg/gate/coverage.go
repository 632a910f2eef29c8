package gate

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/modelguard/modelguard/pkg/acs"
)

// ReasonUnchecked: Central evaluated less than it was given, so the gate
// cannot say the deployment is fine.
const ReasonUnchecked = "UncheckedObjects"

// ignoredRef is Central's "namespace/name[group/version, Kind=kind]".
var ignoredRef = regexp.MustCompile(`^[^/]*/([^\[]*)\[.*Kind=([^\]]*)\]$`)

// judgeCoverage turns a deploy check that passed on policies into a fail
// when Central checked less than it was given: no workload evaluated at
// all, or objects it ignored that no rendering covered. A gate never
// passes what it did not check.
func judgeCoverage(r DetectReport, resp *acs.DeployDetectionResponse, ren rendering) DetectReport {
	var unchecked []string
	unchecked = append(unchecked, ren.unchecked...)
	for _, ref := range resp.IgnoredObjectRefs {
		m := ignoredRef.FindStringSubmatch(ref)
		if m == nil {
			unchecked = append(unchecked, short(ref))
			continue
		}
		if id := m[2] + "/" + m[1]; !ren.covered[id] && !alreadyNamed(ren.unchecked, id) {
			unchecked = append(unchecked, id+" (Central does not evaluate "+m[2]+" objects)")
		}
	}
	if len(resp.Runs) == 0 && len(unchecked) == 0 {
		unchecked = append(unchecked, "every object: Central evaluated no workload (Deployment, Pod, StatefulSet, ...) in the manifests")
	}
	if r.Outcome != Pass || len(unchecked) == 0 {
		return r
	}
	r.Verdict = Verdict{Outcome: Fail, Reason: ReasonUnchecked, Message: fmt.Sprintf(
		"%d object(s) went unchecked, so the deployment cannot be passed: %s", len(unchecked), strings.Join(unchecked, "; "))}
	return r
}

func alreadyNamed(unchecked []string, id string) bool {
	for _, u := range unchecked {
		if strings.HasPrefix(u, id+" ") {
			return true
		}
	}
	return false
}
