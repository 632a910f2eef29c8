package attest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/tektoncd/chains/pkg/chains/formats"
	_ "github.com/tektoncd/chains/pkg/chains/formats/slsa/v2alpha4" // registers the SLSA v1.0 formatter
	"github.com/tektoncd/chains/pkg/chains/objects"
	chainsconfig "github.com/tektoncd/chains/pkg/config"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"google.golang.org/protobuf/encoding/protojson"
	"knative.dev/pkg/apis"
)

// PipelineBuilderID is the builder id of the provenance modelguard writes
// for a PipelineRun. Chains' own statements say https://tekton.dev/chains/v2;
// this one is modelguard's word, signed with the namespace's key.
const PipelineBuilderID = "https://modelguard.dev/controller/pipelinerun/v1"

// PipelineBuildType is Chains' build type with labels, annotations and a
// resolved dependency per pipeline task.
const PipelineBuildType = "https://tekton.dev/chains/v2/slsa-tekton"

// RunMediaType marks the byproduct that records one child run.
const RunMediaType = "application/vnd.modelguard.run.v1+json"

// Run is one child of a PipelineRun as the provenance records it.
type Run struct {
	PipelineTask string `json:"pipelineTask"`
	Kind         string `json:"kind"` // TaskRun or CustomRun
	Name         string `json:"name"`
	UID          string `json:"uid"`
	// Ref is what ran: "Task/model-image-build", a resolver
	// ("bundles:name=…"), or a custom task's "apiVersion/Kind".
	Ref string `json:"ref"`
	// ParamsDigest is sha256 over the run's params as JSON.
	ParamsDigest string `json:"paramsDigest"`
	Status       string `json:"status"` // the Succeeded condition: True, False
	Reason       string `json:"reason"`
}

// Succeeded reports whether the run's Succeeded condition is True.
func (r Run) Succeeded() bool { return r.Status == "True" }

// PipelineProvenance builds the SLSA v1.0 provenance of a finished
// PipelineRun with Chains' own formatter (slsa/v2alpha4, deep inspection:
// each TaskRun's type-hinted images are subjects, its materials resolved
// dependencies) and adds what Chains cannot see (tektoncd/chains#1210):
// every child, CustomRuns included, with its params digest and outcome,
// as runDetails.byproducts, and the namespace it ran in. It returns the
// statement and the images it is about, repo@sha256:<hex>.
func PipelineProvenance(ctx context.Context, pr *pipelinev1.PipelineRun, taskRuns []*pipelinev1.TaskRun, customRuns []*v1beta1.CustomRun) ([]byte, []string, error) {
	payloader, err := formats.GetPayloader(formats.PayloadTypeSlsav2alpha4, chainsconfig.Config{
		Builder:         chainsconfig.BuilderConfig{ID: PipelineBuilderID},
		Artifacts:       chainsconfig.ArtifactConfigs{PipelineRuns: chainsconfig.Artifact{DeepInspectionEnabled: true}},
		BuildDefinition: chainsconfig.BuildDefinitionConfig{BuildType: PipelineBuildType},
	})
	if err != nil {
		return nil, nil, err
	}
	pro := objects.NewPipelineRunObjectV1(pr.DeepCopy())
	for _, tr := range taskRuns {
		pro.AppendTaskRun(tr.DeepCopy())
	}
	payload, err := payloader.CreatePayload(ctx, pro)
	if err != nil {
		return nil, nil, fmt.Errorf("chains formatter: %w", err)
	}
	raw, err := StatementJSON(payload)
	if err != nil {
		return nil, nil, err
	}
	var stmt map[string]any
	if err := json.Unmarshal(raw, &stmt); err != nil {
		return nil, nil, err
	}
	pred, _ := stmt["predicate"].(map[string]any)
	if pred == nil {
		return nil, nil, fmt.Errorf("chains formatter: the statement has no predicate")
	}
	bd := child(pred, "buildDefinition")
	ip := child(bd, "internalParameters")
	ip["namespace"] = pr.Namespace
	rd := child(pred, "runDetails")
	byproducts, _ := rd["byproducts"].([]any)
	for _, r := range Runs(pr, taskRuns, customRuns) {
		byproducts = append(byproducts, map[string]any{
			"name":        "pipelineTask/" + r.PipelineTask,
			"uri":         "tekton.dev/" + r.Kind + "/" + pr.Namespace + "/" + r.Name,
			"digest":      map[string]string{"sha256": strings.TrimPrefix(r.ParamsDigest, "sha256:")},
			"mediaType":   RunMediaType,
			"annotations": r,
		})
	}
	rd["byproducts"] = byproducts
	out, err := json.Marshal(stmt)
	if err != nil {
		return nil, nil, err
	}
	var images []string
	subjects, _ := stmt["subject"].([]any)
	for _, s := range subjects {
		sm, _ := s.(map[string]any)
		n, _ := sm["name"].(string)
		d, _ := sm["digest"].(map[string]any)
		if h, ok := d["sha256"].(string); ok && n != "" {
			images = append(images, n+"@sha256:"+h)
		}
	}
	return out, images, nil
}

// StatementJSON encodes what a Chains formatter returns as the JSON
// Chains signs: protojson field names for an in-toto statement.
func StatementJSON(payload any) ([]byte, error) {
	switch st := payload.(type) {
	case intoto.Statement:
		return protojson.Marshal(&st)
	case *intoto.Statement:
		return protojson.Marshal(st)
	}
	return nil, fmt.Errorf("chains formatter returned %T, not an in-toto statement", payload)
}

func child(m map[string]any, key string) map[string]any {
	c, _ := m[key].(map[string]any)
	if c == nil {
		c = map[string]any{}
		m[key] = c
	}
	return c
}

// Runs lists a PipelineRun's children in its childReferences order, each
// with what ran, a digest of its params, and its outcome. A child whose
// object is missing (deleted, or not yet seen) is listed as such: the
// provenance never hides that a task was meant to run.
func Runs(pr *pipelinev1.PipelineRun, taskRuns []*pipelinev1.TaskRun, customRuns []*v1beta1.CustomRun) []Run {
	trs := map[string]*pipelinev1.TaskRun{}
	for _, tr := range taskRuns {
		trs[tr.Name] = tr
	}
	crs := map[string]*v1beta1.CustomRun{}
	for _, cr := range customRuns {
		crs[cr.Name] = cr
	}
	var out []Run
	for _, c := range pr.Status.ChildReferences {
		r := Run{PipelineTask: c.PipelineTaskName, Kind: c.Kind, Name: c.Name, Status: "Unknown", Reason: "NotFound"}
		switch c.Kind {
		case "TaskRun":
			if tr := trs[c.Name]; tr != nil {
				r.UID, r.Ref, r.ParamsDigest = string(tr.UID), taskRefOf(tr), paramsDigest(tr.Spec.Params)
				r.Status, r.Reason = outcome(tr.Status.GetCondition(apis.ConditionSucceeded))
			}
		case "CustomRun":
			if cr := crs[c.Name]; cr != nil {
				r.UID, r.ParamsDigest = string(cr.UID), paramsDigest(cr.Spec.Params)
				if ref := cr.Spec.CustomRef; ref != nil {
					r.Ref = ref.APIVersion + "/" + string(ref.Kind)
				}
				r.Status, r.Reason = outcome(cr.Status.GetCondition(apis.ConditionSucceeded))
			}
		}
		out = append(out, r)
	}
	return out
}

func outcome(c *apis.Condition) (string, string) {
	if c == nil {
		return "Unknown", "NoCondition"
	}
	return string(c.Status), c.Reason
}

// taskRefOf names the Task a TaskRun ran: Kind/name for a cluster one,
// resolver:param=value,... for a remote one, "inline" for an embedded spec.
func taskRefOf(tr *pipelinev1.TaskRun) string {
	ref := tr.Spec.TaskRef
	switch {
	case ref == nil:
		return "inline"
	case ref.Resolver != "":
		var ps []string
		for _, p := range ref.Params {
			ps = append(ps, p.Name+"="+p.Value.StringVal)
		}
		sort.Strings(ps)
		return string(ref.Resolver) + ":" + strings.Join(ps, ",")
	}
	kind := string(ref.Kind)
	if kind == "" {
		kind = "Task"
	}
	return kind + "/" + ref.Name
}

func paramsDigest(params any) string {
	b, _ := json.Marshal(params) // Params are plain data; this cannot fail
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
