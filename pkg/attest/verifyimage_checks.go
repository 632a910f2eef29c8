package attest

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The checks of VerifyImage that read statements: Chains' build
// provenance, modelguard's pipeline provenance, the scan.

func (v *verification) wantsBuild() bool {
	p := v.p
	return p.BuilderID != "" || p.BuildTask != "" || p.SourceRepository != "" || p.SourceRevision != ""
}

// build checks Chains' provenance of the build and returns the statements
// that passed (none when none did, or no build check was asked for). The
// same digest may have been built, reproducibly, by several TaskRuns.
func (v *verification) build(atts []Attestation) []buildProvenance {
	if !v.wantsBuild() {
		return nil
	}
	var candidates []buildProvenance
	for _, a := range atts {
		if a.PredicateType == PredicateSLSA1 && a.BuilderID != PipelineBuilderID {
			candidates = append(candidates, parseBuildProvenance(a.Predicate))
		}
	}
	if len(candidates) == 0 {
		v.add(CheckBuild, false, ReasonNoProvenance, "no SLSA v1 build provenance verifies with the key")
		return nil
	}
	var reason, detail string
	var passed []buildProvenance
	for _, b := range candidates {
		r, d := v.judgeBuild(b)
		if r == "" {
			passed = append(passed, b)
		} else if reason == "" {
			reason, detail = r, d
		}
	}
	if len(passed) == 0 {
		v.add(CheckBuild, false, reason, "%s", detail)
		return nil
	}
	b := passed[0]
	v.add(CheckBuild, true, "", "built by %s, Task %q, TaskRun %s%s", b.BuilderID, b.Task, b.InvocationID, sourceNote(b))
	return passed
}

func (v *verification) judgeBuild(b buildProvenance) (string, string) {
	p := v.p
	switch {
	case p.BuilderID != "" && b.BuilderID != p.BuilderID:
		return ReasonWrongBuilder, fmt.Sprintf("the provenance's builder is %q, not %q", b.BuilderID, p.BuilderID)
	case p.BuildTask != "" && b.Task != p.BuildTask:
		return ReasonWrongTask, fmt.Sprintf("the image was built by Task %q, not %q", b.Task, p.BuildTask)
	}
	if p.SourceRepository == "" && p.SourceRevision == "" {
		return "", ""
	}
	for _, s := range b.Sources {
		if (p.SourceRepository == "" || sameRepository(s.URI, p.SourceRepository)) && (p.SourceRevision == "" || s.Revision == p.SourceRevision) {
			return "", ""
		}
	}
	if len(b.Sources) == 0 {
		return ReasonWrongSource, "the provenance names no source repository"
	}
	return ReasonWrongSource, fmt.Sprintf("the image was built from %s@%s, not %s@%s", b.Sources[0].URI, b.Sources[0].Revision, orAny(p.SourceRepository), orAny(p.SourceRevision))
}

func sourceNote(b buildProvenance) string {
	if len(b.Sources) == 0 {
		return ""
	}
	return fmt.Sprintf(", from %s@%s", b.Sources[0].URI, b.Sources[0].Revision)
}

func orAny(s string) string {
	if s == "" {
		return "(any)"
	}
	return s
}

// pipeline checks modelguard's provenance of the PipelineRun that made
// the image: its namespace, its gates, and that the build provenance's
// TaskRun is one of its children.
func (v *verification) pipeline(atts []Attestation, builds []buildProvenance) {
	if v.p.Namespace == "" && len(v.p.RequiredGates) == 0 {
		return
	}
	var pp *pipelineProvenance
	for _, a := range atts {
		if a.PredicateType == PredicateSLSA1 && a.BuilderID == PipelineBuilderID {
			got := parsePipelineProvenance(a.Predicate)
			pp = &got
			break
		}
	}
	switch {
	case pp == nil:
		v.add(CheckPipeline, false, ReasonNoPipelineProvenance, "no pipeline provenance (builder %s) verifies with the attestor key: the image was not made by a pipeline modelguard watched", PipelineBuilderID)
		return
	case v.p.Namespace != "" && pp.Namespace != v.p.Namespace:
		v.add(CheckPipeline, false, ReasonWrongNamespace, "the pipeline ran in namespace %q, not %q", pp.Namespace, v.p.Namespace)
		return
	}
	if len(builds) > 0 {
		ours := func(b buildProvenance) bool {
			return slices.ContainsFunc(pp.Runs, func(r Run) bool { return r.Kind == "TaskRun" && r.UID != "" && r.UID == b.InvocationID })
		}
		if !slices.ContainsFunc(builds, ours) {
			v.add(CheckPipeline, false, ReasonNotFromPipeline, "the build TaskRun %s is not one of pipeline %q's runs", builds[0].InvocationID, pp.Pipeline)
			return
		}
	}
	var passed []string
	for _, g := range v.p.RequiredGates {
		runs := slices.DeleteFunc(slices.Clone(pp.Runs), func(r Run) bool { return !r.is(g) })
		switch {
		case len(runs) == 0:
			v.add(CheckPipeline, false, ReasonGateMissing, "gate %q did not run in pipeline %q", g, pp.Pipeline)
			return
		case !slices.ContainsFunc(runs, Run.Succeeded):
			v.add(CheckPipeline, false, ReasonGateFailed, "gate %q (%s %s) ended %s: %s", g, runs[0].Kind, runs[0].Name, runs[0].Status, runs[0].Reason)
			return
		}
		passed = append(passed, g)
	}
	v.add(CheckPipeline, true, "", "pipeline %q in namespace %q, %d runs; gates passed: %s", pp.Pipeline, pp.Namespace, len(pp.Runs), strings.Join(passed, ", "))
}

// is reports whether the run is gate g: its pipeline task name, its
// custom-task kind, or its Task's name.
func (r Run) is(g string) bool {
	if r.PipelineTask == g {
		return true
	}
	i := strings.LastIndexByte(r.Ref, '/')
	return i >= 0 && r.Ref[i+1:] == g
}

func (v *verification) scan(atts []Attestation) {
	if v.p.MaxScanAge <= 0 {
		return
	}
	var newest *scanStatement
	for _, a := range atts {
		if a.PredicateType != PredicateVuln {
			continue
		}
		if s, ok := parseScan(a.Predicate); ok && (newest == nil || s.Finished.After(newest.Finished)) {
			newest = &s
		}
	}
	now := time.Now()
	if v.p.Now != nil {
		now = v.p.Now()
	}
	switch {
	case newest == nil:
		v.add(CheckScan, false, ReasonNoScan, "no vulnerability scan attestation verifies with the attestor key")
	case newest.Verdict != "pass":
		v.add(CheckScan, false, ReasonScanFailed, "the scan of %s said %q (%s)", newest.Finished.Format(time.RFC3339), newest.Verdict, newest.Reason)
	case now.Sub(newest.Finished) > v.p.MaxScanAge:
		v.add(CheckScan, false, ReasonScanTooOld, "the newest scan finished %s ago (%s), more than the %s allowed", now.Sub(newest.Finished).Round(time.Second), newest.Finished.Format(time.RFC3339), v.p.MaxScanAge)
	default:
		v.add(CheckScan, true, "", "passed %s ago by %s", now.Sub(newest.Finished).Round(time.Second), newest.Scanner)
	}
}
