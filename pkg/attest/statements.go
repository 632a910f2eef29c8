package attest

import (
	"encoding/json"
	"strings"
	"time"
)

// buildProvenance is what VerifyImage reads from a SLSA v1.0 statement
// about a build TaskRun (Chains' slsa/v2alpha3 and v2alpha4 shape).
type buildProvenance struct {
	BuilderID    string
	InvocationID string // the TaskRun's UID
	Task         string // the Task it ran ("" for an inline spec)
	Sources      []source
}

type source struct{ URI, Revision string }

func parseBuildProvenance(pred json.RawMessage) buildProvenance {
	var p struct {
		BuildDefinition struct {
			ExternalParameters struct {
				RunSpec struct {
					TaskRef *struct {
						Name     string `json:"name"`
						Resolver string `json:"resolver"`
						Params   []struct {
							Name  string `json:"name"`
							Value any    `json:"value"`
						} `json:"params"`
					} `json:"taskRef"`
				} `json:"runSpec"`
			} `json:"externalParameters"`
			ResolvedDependencies []struct {
				URI    string            `json:"uri"`
				Digest map[string]string `json:"digest"`
			} `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Builder struct {
				ID string `json:"id"`
			} `json:"builder"`
			Metadata struct {
				InvocationID string `json:"invocationID"`
			} `json:"metadata"`
		} `json:"runDetails"`
	}
	_ = json.Unmarshal(pred, &p) // a statement that does not parse matches nothing
	b := buildProvenance{BuilderID: p.RunDetails.Builder.ID, InvocationID: p.RunDetails.Metadata.InvocationID}
	if ref := p.BuildDefinition.ExternalParameters.RunSpec.TaskRef; ref != nil {
		b.Task = ref.Name
		if ref.Resolver != "" {
			for _, prm := range ref.Params {
				if s, ok := prm.Value.(string); ok && prm.Name == "name" {
					b.Task = s
				}
			}
		}
	}
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		if strings.HasPrefix(d.URI, "git+") {
			b.Sources = append(b.Sources, source{URI: d.URI, Revision: d.Digest["sha1"]})
		}
	}
	return b
}

// sameRepository compares git repository URLs the way people write them:
// with or without Chains' "git+" prefix, ".git" suffix or trailing slash.
func sameRepository(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimPrefix(strings.TrimSpace(s), "git+")
		s = strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git")
		return strings.ToLower(s)
	}
	return a != "" && norm(a) == norm(b)
}

// pipelineProvenance is what VerifyImage reads from the statement
// PipelineProvenance writes.
type pipelineProvenance struct {
	Namespace string
	Pipeline  string
	Runs      []Run
}

func parsePipelineProvenance(pred json.RawMessage) pipelineProvenance {
	var p struct {
		BuildDefinition struct {
			ExternalParameters struct {
				RunSpec struct {
					PipelineRef *struct {
						Name string `json:"name"`
					} `json:"pipelineRef"`
				} `json:"runSpec"`
			} `json:"externalParameters"`
			InternalParameters struct {
				Namespace string `json:"namespace"`
			} `json:"internalParameters"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Byproducts []struct {
				MediaType   string `json:"mediaType"`
				Annotations Run    `json:"annotations"`
			} `json:"byproducts"`
		} `json:"runDetails"`
	}
	_ = json.Unmarshal(pred, &p)
	out := pipelineProvenance{Namespace: p.BuildDefinition.InternalParameters.Namespace}
	if ref := p.BuildDefinition.ExternalParameters.RunSpec.PipelineRef; ref != nil {
		out.Pipeline = ref.Name
	}
	for _, b := range p.RunDetails.Byproducts {
		if b.MediaType == RunMediaType {
			out.Runs = append(out.Runs, b.Annotations)
		}
	}
	return out
}

// scanStatement is what VerifyImage reads from a vuln predicate.
type scanStatement struct {
	Finished time.Time
	Verdict  string
	Reason   string
	Scanner  string
}

func parseScan(pred json.RawMessage) (scanStatement, bool) {
	var p struct {
		Scanner struct {
			URI     string `json:"uri"`
			Version string `json:"version"`
			Result  struct {
				Verdict string `json:"verdict"`
				Reason  string `json:"reason"`
			} `json:"result"`
		} `json:"scanner"`
		Metadata struct {
			ScanFinishedOn time.Time `json:"scanFinishedOn"`
		} `json:"metadata"`
	}
	if json.Unmarshal(pred, &p) != nil || p.Metadata.ScanFinishedOn.IsZero() {
		return scanStatement{}, false
	}
	return scanStatement{Finished: p.Metadata.ScanFinishedOn, Verdict: p.Scanner.Result.Verdict,
		Reason: p.Scanner.Result.Reason, Scanner: strings.TrimSpace(p.Scanner.URI + " " + p.Scanner.Version)}, true
}
