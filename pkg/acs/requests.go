package acs

import (
	"fmt"
	"strings"
)

// ScanRequest is the body of POST /v1/images/scan (v1.ScanImageRequest).
type ScanRequest struct {
	// Image is the reference to scan. Pin it by digest
	// (repo@sha256:… or repo:tag@sha256:…): by tag, Central may answer
	// from a cached scan of an older digest unless Force is set.
	Image string `json:"imageName"`
	// Force bypasses Central's cache and re-pulls the image.
	Force bool `json:"force,omitempty"`
	// IncludeSnoozed returns deferred CVEs too (marked Suppressed). Audit
	// reports want it; policy evaluation does not.
	IncludeSnoozed bool `json:"includeSnoozed,omitempty"`
	// Cluster delegates the scan to a secured cluster (name or ID), for
	// registries only that cluster can reach, such as the OpenShift
	// internal registry.
	Cluster string `json:"cluster,omitempty"`
	// Namespace is the namespace on Cluster whose pull secrets are used.
	Namespace string `json:"namespace,omitempty"`
}

// BuildRequest is the body of POST /v1/detect/build
// (v1.BuildDetectionRequest). roxctl sends the parsed image entity; the
// imageName member of the same oneof is equivalent and lets Central parse.
type BuildRequest struct {
	Image string `json:"imageName"`
	// NoExternalMetadata evaluates without pulling metadata or scanning.
	// Central rejects it together with Force.
	NoExternalMetadata bool `json:"noExternalMetadata,omitempty"`
	// SendNotifications makes Central notify the violated policies'
	// notifiers.
	SendNotifications bool `json:"sendNotifications,omitempty"`
	Force             bool `json:"force,omitempty"`
	// PolicyCategories restricts evaluation to these categories. An unknown
	// category is an error (HTTP 500, not retried).
	PolicyCategories []string `json:"policyCategories,omitempty"`
	Cluster          string   `json:"cluster,omitempty"`
	Namespace        string   `json:"namespace,omitempty"`
}

// DeployRequest is the body of POST /v1/detect/deploy/yaml
// (v1.DeployYAMLDetectionRequest).
type DeployRequest struct {
	// YAML holds one or more documents separated by "---" lines; JoinYAML
	// builds it the way roxctl does from several files.
	YAML               string `json:"yaml"`
	NoExternalMetadata bool   `json:"noExternalMetadata,omitempty"`
	// EnforcementOnly evaluates only policies that have an enforcement
	// action.
	EnforcementOnly bool `json:"enforcementOnly,omitempty"`
	// Force is sent (roxctl parses --force but never sends it).
	Force            bool     `json:"force,omitempty"`
	PolicyCategories []string `json:"policyCategories,omitempty"`
	// Cluster makes Central use that cluster's RBAC, NetworkPolicies and
	// Services when evaluating.
	Cluster string `json:"cluster,omitempty"`
	// Namespace is where the objects are assumed to live; Central's default
	// is "default".
	Namespace string `json:"namespace,omitempty"`
}

// validate catches requests Central would reject with InvalidArgument,
// saving a round trip (and a slot) on a call that cannot succeed.
func (r ScanRequest) validate() error {
	if strings.TrimSpace(r.Image) == "" {
		return fmt.Errorf("acs: ScanImage: image name is empty: %w", ErrInvalidArgument)
	}
	return nil
}

func (r BuildRequest) validate() error {
	if strings.TrimSpace(r.Image) == "" {
		return fmt.Errorf("acs: DetectBuild: image name is empty: %w", ErrInvalidArgument)
	}
	if r.Force && r.NoExternalMetadata {
		return fmt.Errorf("acs: DetectBuild: Force and NoExternalMetadata cannot be combined: %w", ErrInvalidArgument)
	}
	return nil
}

func (r DeployRequest) validate() error {
	if strings.TrimSpace(r.YAML) == "" {
		return fmt.Errorf("acs: DetectDeployYAML: YAML is empty: %w", ErrInvalidArgument)
	}
	return nil
}

// JoinYAML joins manifest files into one DeployRequest.YAML as roxctl does:
// each file is trimmed (including a leading or trailing "---") and files are
// separated by "---" lines. Empty inputs are skipped.
func JoinYAML(docs ...string) string {
	var b strings.Builder
	for _, d := range docs {
		d = strings.TrimSpace(d)
		d = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(d, "---"), "---"))
		if d == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n---\n")
		}
		b.WriteString(d)
	}
	return b.String()
}
