package acs

import (
	"fmt"
	"strings"
)

// Central's search syntax fails quietly: an unknown field is dropped (the
// query widens), a misspelt enum matches nothing (it narrows), and a
// string field matches by prefix ("Deployment:llm" also finds
// "llm-canary"). So the runtime calls take typed queries, built here from
// validated values, rather than query strings.

// AlertQuery selects the alerts of one deployment.
type AlertQuery struct {
	// DeploymentID is the workload's Kubernetes UID: an exact match,
	// unlike the deployment's name.
	DeploymentID string
	// States must be given: without a Violation State term Central hides
	// RESOLVED alerts, which a gate must see (an alert resolved by hand
	// during the watch still happened).
	States []AlertState
}

// String renders the query in Central's syntax, e.g.
// "Deployment ID:<uid>+Violation State:ACTIVE,ATTEMPTED,RESOLVED".
func (q AlertQuery) String() string {
	states := make([]string, len(q.States))
	for i, s := range q.States {
		states[i] = string(s)
	}
	return "Deployment ID:" + q.DeploymentID + "+Violation State:" + strings.Join(states, ",")
}

func (q AlertQuery) validate() error {
	if err := checkUUID("DeploymentID", q.DeploymentID); err != nil {
		return err
	}
	if len(q.States) == 0 {
		return fmt.Errorf("acs: alert query: States is empty; name them (Central hides RESOLVED alerts otherwise): %w", ErrInvalidArgument)
	}
	for _, s := range q.States {
		switch s {
		case AlertActive, AlertAttempted, AlertResolved, AlertSnoozed:
		default:
			return fmt.Errorf("acs: alert query: state %q is not an alert state (Central would match nothing): %w", short(string(s)), ErrInvalidArgument)
		}
	}
	return nil
}

// AllAlertStates are the states a gate asks for: everything but the
// legacy SNOOZED.
var AllAlertStates = []AlertState{AlertActive, AlertAttempted, AlertResolved}

// deploymentQuery selects by the exact deployment ID.
func deploymentQuery(id string) string { return "Deployment ID:" + id }

// checkUUID accepts the 8-4-4-4-12 hex form of Kubernetes UIDs and
// Central's ids. Anything else could change a path or a query.
func checkUUID(field, s string) error {
	if !isUUID(s) {
		return fmt.Errorf("acs: %s %q is not a UUID: %w", field, short(s), ErrInvalidArgument)
	}
	return nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
