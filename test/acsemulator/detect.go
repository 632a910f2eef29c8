package acsemulator

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// policy is a data-file policy with what Central adds: a stable id and its
// lifecycle stage.
type policy struct {
	Policy
	id    string
	stage string // BUILD or DEPLOY
}

func newPolicy(p Policy, stage string) *policy {
	return &policy{Policy: p, id: stableUUID("policy", p.Name), stage: stage}
}

func (p *policy) has(action string) bool { return contains(p.Enforcement, action) }

// buildRequest is BuildDetectionRequest (proto/api/v1/detection_service.proto).
// roxctl sends the parsed "image"; other clients may send "imageName".
type buildRequest struct {
	Image *struct {
		ID   string `json:"id"`
		Name *struct {
			Registry string `json:"registry"`
			Remote   string `json:"remote"`
			Tag      string `json:"tag"`
			FullName string `json:"fullName"`
		} `json:"name"`
	} `json:"image"`
	ImageName          string   `json:"imageName"`
	NoExternalMetadata bool     `json:"noExternalMetadata"`
	SendNotifications  bool     `json:"sendNotifications"`
	Force              bool     `json:"force"`
	PolicyCategories   []string `json:"policyCategories"`
	Cluster            string   `json:"cluster"`
	Namespace          string   `json:"namespace"`
}

const errForceAndNoMetadata = "force option is incompatible with not fetching metadata from external sources"

// detectBuild is POST /v1/detect/build (DetectionService.DetectBuildTime).
//
// Like Central it does NOT fail when the image has no scan data (or is
// unknown): the image is evaluated with no components, so CVE policies pass
// silently. That is the trap the client must guard against by scanning first.
func (e *Emulator) detectBuild(w http.ResponseWriter, r *http.Request) {
	var req buildRequest
	if !decodeBody(w, r, &req) {
		return
	}
	var ref imageRef
	switch {
	case req.ImageName != "":
		var err error
		if ref, err = parseImageName(req.ImageName); err != nil {
			writeError(w, codeInvalidArgument, badNameMessage(req.ImageName, err))
			return
		}
	case req.Image != nil && req.Image.Name != nil:
		n := req.Image.Name
		ref = imageRef{Registry: n.Registry, Remote: n.Remote, Tag: n.Tag, Digest: req.Image.ID}
		if ref.Remote == "" && n.FullName != "" {
			parsed, err := parseImageName(n.FullName)
			if err != nil {
				writeError(w, codeInvalidArgument, badNameMessage(n.FullName, err))
				return
			}
			ref = parsed
		}
	default:
		writeError(w, codeInvalidArgument, "invalid arguments: image or image_name must be specified")
		return
	}
	if req.Force && req.NoExternalMetadata {
		writeError(w, codeInvalidArgument, errForceAndNoMetadata)
		return
	}
	policies, unused := selectPolicies(e.build, req.PolicyCategories, false)
	if len(unused) > 0 {
		// A plain error in Central, hence Internal / HTTP 500.
		writeError(w, codeInternal, fmt.Sprintf("allowed categories %q did not match any policy categories", unused))
		return
	}
	img := e.lookup(ref)
	view := imageView{ref: ref, img: img, scan: img != nil && !img.NoScanData}
	entity := e.containerImage(ref, img, true)
	alerts := []obj{}
	now := protoTime(time.Now().UTC())
	for _, p := range policies {
		if msgs := p.Match.eval(view, nil); msgs != nil {
			alerts = append(alerts, e.alert(p, "image", entity, msgs, nil, now))
		}
	}
	writeJSON(w, r, http.StatusOK, obj{"alerts": alerts})
}

// selectPolicies returns the enabled policies in any of the requested
// categories (all when none are requested) and the requested categories that
// no policy has, which Central rejects. Categories compare case-insensitively.
func selectPolicies(all []*policy, categories []string, enforcementOnly bool) ([]*policy, []string) {
	var out []*policy
	used := map[int]bool{}
	for _, p := range all {
		if p.Disabled || enforcementOnly && !p.has("SCALE_TO_ZERO_ENFORCEMENT") && !p.has("UNSATISFIABLE_NODE_CONSTRAINT_ENFORCEMENT") {
			continue
		}
		in := len(categories) == 0
		for i, want := range categories {
			for _, c := range p.Categories {
				if strings.EqualFold(c, want) {
					in, used[i] = true, true
				}
			}
		}
		if in {
			out = append(out, p)
		}
	}
	var unused []string
	for i, c := range categories {
		if !used[i] {
			unused = append(unused, c)
		}
	}
	return out, unused
}

// containerImage is storage.ContainerImage, the entity of a build alert and
// of each deployment container. idV2 is only minted for build alerts, which
// is when Central has stored the image.
func (e *Emulator) containerImage(ref imageRef, img *Image, withV2 bool) obj {
	id := ref.Digest
	if img != nil {
		id = img.Digest
	}
	idV2 := ""
	if withV2 && id != "" {
		idV2 = stableUUID("image-v2", ref.key()+"@"+id)
	}
	return obj{"id": id, "name": nameObj(ref), "notPullable": false, "isClusterLocal": false, "idV2": idV2}
}

// alert is storage.Alert. entityKey is "image" (build) or "deployment"; only
// that member of the entity oneof is present.
func (e *Emulator) alert(p *policy, entityKey string, entity obj, msgs []string, enforcement any, now string) obj {
	violations := make([]obj, 0, len(msgs))
	for _, m := range msgs {
		violations = append(violations, obj{"message": m, "type": "GENERIC", "time": nil})
	}
	return obj{
		"id": newUUID(), "policy": e.renderPolicy(p), "lifecycleStage": p.stage,
		"clusterId": "", "clusterName": "", "namespace": "", "namespaceId": "",
		entityKey: entity, "violations": violations, "processViolation": nil,
		"enforcement": enforcement, "time": now, "firstOccurred": nil, "resolvedAt": nil,
		"state": "ACTIVE", "platformComponent": false, "entityType": "UNSET", "enforcementCount": 0,
	}
}

// renderPolicy is storage.Policy. The policy sections are a readable
// rendering of the Rule in Central's field names; the emulator itself only
// ever evaluates the Rule.
func (e *Emulator) renderPolicy(p *policy) obj {
	actions := append([]string{}, p.Enforcement...)
	categories := append([]string{}, p.Categories...)
	return obj{
		"id": p.id, "name": p.Name, "description": p.Description, "rationale": p.Rationale,
		"remediation": p.Remediation, "disabled": p.Disabled, "categories": categories,
		"lifecycleStages": []string{p.stage}, "eventSource": "NOT_APPLICABLE",
		"exclusions": []any{}, "scope": []any{}, "severity": p.Severity + "_SEVERITY",
		"enforcementActions": actions, "notifiers": []string{}, "lastUpdated": protoTime(e.started),
		"SORTName": "", "SORTLifecycleStage": "", "SORTEnforcement": false, "policyVersion": "1.1",
		"policySections":     []obj{{"sectionName": "", "policyGroups": policyGroups(p.Match)}},
		"mitreAttackVectors": []any{}, "criteriaLocked": false, "mitreVectorsLocked": false,
		"isDefault": false, "source": "IMPERATIVE", "evaluationFilter": nil,
	}
}

func policyGroups(r Rule) []obj {
	var groups []obj
	add := func(field string, negate bool, values ...string) {
		vs := make([]obj, 0, len(values))
		for _, v := range values {
			vs = append(vs, obj{"value": v})
		}
		groups = append(groups, obj{"fieldName": field, "booleanOperator": "OR", "negate": negate, "values": vs})
	}
	if r.ComponentName != "" {
		add("Image Component", false, r.ComponentName+"=")
	}
	if r.Fixable != nil {
		add("Fixed By", !*r.Fixable, ".*")
	}
	if r.CVESeverityAtLeast != "" {
		add("Severity", false, ">= "+r.CVESeverityAtLeast)
	}
	if r.CVSSAtLeast != nil {
		add("CVSS", false, fmt.Sprintf(">= %v", *r.CVSSAtLeast))
	}
	if r.ImageTagIs != "" {
		add("Image Tag", false, r.ImageTagIs)
	}
	if len(r.ImageUser) > 0 {
		add("Image User", false, r.ImageUser...)
	}
	if r.Privileged {
		add("Privileged Container", false, "true")
	}
	if r.RunAsRoot {
		// Central has no single field for this; the name says it is ours.
		add("Runs As Root (acsemulator)", false, "true")
	}
	if r.LatestTag {
		add("Image Tag", false, "latest")
	}
	if r.MissingResourceLimits {
		add("Container CPU Limit", false, "0")
		add("Container Memory Limit", false, "0")
	}
	return groups
}
