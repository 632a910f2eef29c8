package attest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The pipeline provenance is Chains' SLSA v1.0 PipelineRun statement plus
// every child, CustomRuns too, with what ran, its params digest and its
// outcome.
func TestPipelineProvenance(t *testing.T) {
	r := newRelease(t, startRegistry(t), "p:1", "ml", corev1.ConditionFalse)
	stmt, images, err := PipelineProvenance(context.Background(), r.pr, r.taskRuns, r.customRuns)
	if err != nil {
		t.Fatal(err)
	}
	var st Statement
	if err := json.Unmarshal(stmt, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != StatementType || st.PredicateType != PredicateSLSA1 || builderOf(stmt) != PipelineBuilderID {
		t.Errorf("statement header: %s %s %s", st.Type, st.PredicateType, builderOf(stmt))
	}
	want := strings.Replace(r.image, ":1@", "@", 1)
	if len(images) != 1 || images[0] != want || !st.names(want[strings.Index(want, "@")+1:]) {
		t.Errorf("subjects %v, want [%s]", images, want)
	}
	pp := parsePipelineProvenance(st.Predicate)
	if pp.Namespace != "ml" || pp.Pipeline != "model-release" || len(pp.Runs) != 3 {
		t.Fatalf("pipeline provenance: %+v", pp)
	}
	build, scan, check := pp.Runs[0], pp.Runs[1], pp.Runs[2]
	if build.Kind != "TaskRun" || build.Ref != "Task/model-image-build" || build.UID != string(r.taskRuns[0].UID) || !build.Succeeded() {
		t.Errorf("build run: %+v", build)
	}
	if scan.Kind != "CustomRun" || scan.Ref != "modelguard.dev/v1alpha1/ImageScan" || !scan.Succeeded() || !strings.HasPrefix(scan.ParamsDigest, "sha256:") {
		t.Errorf("scan run: %+v", scan)
	}
	if check.Succeeded() || check.Reason != "PolicyFailsBuild" || check.ParamsDigest == scan.ParamsDigest && check.Ref == scan.Ref {
		t.Errorf("check run: %+v", check)
	}
	// Chains' deep inspection: the build's source is a resolved dependency.
	if !strings.Contains(string(st.Predicate), "git+"+testRepo+".git") {
		t.Errorf("no source material in %s", st.Predicate)
	}
}
