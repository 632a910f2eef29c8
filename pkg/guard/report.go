package guard

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Reasons a run's answer is no.
const (
	ReasonDrift          = "Drift"
	ReasonAccessMismatch = "AccessMatrixMismatch"
)

// Report is the outcome of one guard run, the same for every door.
type Report struct {
	Namespace string   `json:"namespace"`
	Profile   Profile  `json:"profile"`
	Mode      Mode     `json:"mode"`
	Changes   []Change `json:"changes"`
	// Checks is the access matrix; empty in diff mode.
	Checks []Check `json:"accessMatrix,omitempty"`
}

// settle asks again the questions whose answer was not the intended one,
// for a short while: the API server's authorizer learns of a RoleBinding
// just written through a watch, so for a few milliseconds it may still
// answer as if the binding did not exist.
func (e *Engine) settle(ctx context.Context, s *Spec, checks []Check) error {
	for wait := 20 * time.Millisecond; wait < 3*time.Second; wait *= 2 {
		var open []int
		for i, c := range checks {
			if !c.OK() {
				open = append(open, i)
			}
		}
		if len(open) == 0 {
			return nil
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		for _, i := range open {
			got, err := e.allowed(ctx, s.Namespace, s.Subjects[checks[i].Persona], checks[i].Persona, checks[i].Access)
			if err != nil {
				return err
			}
			checks[i].Got = got
		}
	}
	return nil
}

// Refs lists the objects that had an action, e.g. Refs(Created).
func (r *Report) Refs(action string) []string {
	var out []string
	for _, c := range r.Changes {
		if c.Action == action {
			out = append(out, c.Ref)
		}
	}
	return out
}

// Summary is one line: counts by action and the access-matrix score.
func (r *Report) Summary() string {
	n := Summary(r.Changes)
	s := fmt.Sprintf("created %d, changed %d, unchanged %d, deleted %d", n[Created], n[Changed], n[Unchanged], n[Deleted])
	if n[Foreign] > 0 {
		s += fmt.Sprintf(", foreign %d", n[Foreign])
	}
	if r.Mode == ModeDiff {
		return "dry run: " + s
	}
	return s + fmt.Sprintf("; access matrix %d/%d as intended", len(r.Checks)-len(Mismatches(r.Checks)), len(r.Checks))
}

// MatrixSummary is the access matrix in a few lines: a score per persona,
// then every mismatch.
func (r *Report) MatrixSummary() string {
	var b strings.Builder
	for _, p := range Personas {
		total, ok := 0, 0
		for _, c := range r.Checks {
			if c.Persona == p {
				total++
				if c.OK() {
					ok++
				}
			}
		}
		if total > 0 {
			fmt.Fprintf(&b, "%s: %d/%d as intended\n", p, ok, total)
		}
	}
	for _, c := range Mismatches(r.Checks) {
		fmt.Fprintf(&b, "MISMATCH %s\n", c.Describe())
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Problem says why the run's answer is no, or returns "" when it is yes:
// verify fails on drift; apply and verify fail on a foreign NetworkPolicy
// or RoleBinding (the guard cannot vouch for a namespace it may open) and
// on any matrix mismatch.
func (r *Report) Problem() (reason, message string) {
	if foreign := r.Refs(Foreign); len(foreign) > 0 && r.Mode == ModeApply {
		return ReasonDrift, "objects the guard did not make may open what it closes: " + refList(foreign) +
			"; a cluster admin removes them or lists them in the namespace annotation " + AllowForeignAnnotation
	}
	if r.Mode == ModeVerify {
		var drifted []string
		for _, c := range r.Changes {
			if c.Action != Unchanged {
				drifted = append(drifted, c.Ref+" ("+c.Action+")")
			}
		}
		if len(drifted) > 0 {
			return ReasonDrift, "the namespace differs from its guard (hand edits, or objects the guard did not make): " + refList(drifted)
		}
	}
	if bad := Mismatches(r.Checks); len(bad) > 0 {
		return ReasonAccessMismatch, fmt.Sprintf("%d of %d access checks did not match the persona matrix, first: %s", len(bad), len(r.Checks), bad[0].Describe())
	}
	return "", ""
}

// Describe is one readable line about a check.
func (c Check) Describe() string {
	return fmt.Sprintf("%s %s %s: want %s, got %s", c.Persona, c.Subject, c.Access, word(c.Want), word(c.Got))
}

func word(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "denied"
}

// refList joins refs for a message, at most ten of them.
func refList(refs []string) string {
	if len(refs) > 10 {
		return strings.Join(refs[:10], ", ") + fmt.Sprintf(" and %d more", len(refs)-10)
	}
	return strings.Join(refs, ", ")
}
