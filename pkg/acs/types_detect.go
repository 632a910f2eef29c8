package acs

import "time"

// BuildDetectionResponse is the response of POST /v1/detect/build. An empty
// Alerts list means no enabled BUILD policy was violated — which, on Central's
// side, is also what an image without scan data gets.
type BuildDetectionResponse struct {
	Alerts []Alert `json:"alerts"`
}

// DeployDetectionResponse is the response of POST /v1/detect/deploy/yaml.
type DeployDetectionResponse struct {
	// Runs has one entry per workload found in the YAML.
	Runs []DeployDetectionRun `json:"runs"`
	// IgnoredObjectRefs lists objects of kinds Central does not evaluate
	// (CRDs such as KServe InferenceService), formatted
	// "namespace/name[group/version, Kind=kind]".
	IgnoredObjectRefs []string       `json:"ignoredObjectRefs"`
	Remarks           []DeployRemark `json:"remarks"`
}

// DeployDetectionRun is the detection result for one workload.
type DeployDetectionRun struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"` // the workload kind, e.g. Deployment
	Alerts []Alert `json:"alerts"`
}

// DeployRemark is what Central inferred about a workload's access: its RBAC
// permission level and the NetworkPolicies that select it.
type DeployRemark struct {
	Name                   string   `json:"name"`
	PermissionLevel        string   `json:"permissionLevel"`
	AppliedNetworkPolicies []string `json:"appliedNetworkPolicies"`
}

// Alert is one policy violation (storage.Alert).
type Alert struct {
	// ID is a fresh UUID on every detect call; do not use it as a key.
	ID             string         `json:"id"`
	Policy         *Policy        `json:"policy"`
	LifecycleStage LifecycleStage `json:"lifecycleStage"`
	ClusterID      string         `json:"clusterId"`
	ClusterName    string         `json:"clusterName"`
	Namespace      string         `json:"namespace"`
	NamespaceID    string         `json:"namespaceId"`
	// The violating entity is a oneof: Image for build alerts, Deployment
	// for deploy alerts.
	Image      *ContainerImage  `json:"image,omitempty"`
	Deployment *AlertDeployment `json:"deployment,omitempty"`
	Violations []Violation      `json:"violations"`
	// ProcessViolation holds a runtime process policy's evidence; process
	// policies put none in Violations.
	ProcessViolation *ProcessViolation `json:"processViolation"`
	// Enforcement is null for build alerts; deploy alerts carry it when the
	// policy scales to zero or sets an unsatisfiable node constraint.
	Enforcement      *Enforcement `json:"enforcement"`
	Time             *time.Time   `json:"time"`
	FirstOccurred    *time.Time   `json:"firstOccurred"`
	ResolvedAt       *time.Time   `json:"resolvedAt"`
	State            AlertState   `json:"state"`
	EntityType       string       `json:"entityType"`
	EnforcementCount int32        `json:"enforcementCount"`
}

// Violation is one message of an alert.
type Violation struct {
	Message string     `json:"message"`
	Type    string     `json:"type"` // GENERIC, K8S_EVENT, …
	Time    *time.Time `json:"time"`
}

// Enforcement is the action Central took or would take for an alert.
type Enforcement struct {
	Action  EnforcementAction `json:"action"`
	Message string            `json:"message"`
}

// Policy is the violated policy as embedded in an alert (storage.Policy).
type Policy struct {
	ID              string           `json:"id"`
	Name            string           `json:"name"`
	Description     string           `json:"description"`
	Rationale       string           `json:"rationale"`
	Remediation     string           `json:"remediation"`
	Disabled        bool             `json:"disabled"`
	Categories      []string         `json:"categories"`
	LifecycleStages []LifecycleStage `json:"lifecycleStages"`
	Severity        PolicySeverity   `json:"severity"`
	// EnforcementActions decides whether roxctl treats the violation as
	// breaking (FAIL_BUILD_ENFORCEMENT, SCALE_TO_ZERO_ENFORCEMENT).
	EnforcementActions []EnforcementAction `json:"enforcementActions"`
	PolicyVersion      string              `json:"policyVersion"`
	PolicySections     []PolicySection     `json:"policySections"`
	IsDefault          bool                `json:"isDefault"`
	LastUpdated        *time.Time          `json:"lastUpdated"`
}

// PolicySection is one AND-ed block of a policy's criteria.
type PolicySection struct {
	SectionName  string        `json:"sectionName"`
	PolicyGroups []PolicyGroup `json:"policyGroups"`
}

// PolicyGroup is one criterion ("Severity >= IMPORTANT").
type PolicyGroup struct {
	FieldName       string        `json:"fieldName"`
	BooleanOperator string        `json:"booleanOperator"`
	Negate          bool          `json:"negate"`
	Values          []PolicyValue `json:"values"`
}

// PolicyValue is one value of a criterion.
type PolicyValue struct {
	Value string `json:"value"`
}

// ContainerImage is the image entity of an alert (storage.ContainerImage).
type ContainerImage struct {
	ID             string     `json:"id"`
	Name           *ImageName `json:"name"`
	NotPullable    bool       `json:"notPullable"`
	IsClusterLocal bool       `json:"isClusterLocal"`
	IDV2           string     `json:"idV2"`
}

// AlertDeployment is the deployment entity of a deploy-time alert.
type AlertDeployment struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Type        string            `json:"type"`
	Namespace   string            `json:"namespace"`
	NamespaceID string            `json:"namespaceId"`
	Labels      map[string]string `json:"labels"`
	ClusterID   string            `json:"clusterId"`
	ClusterName string            `json:"clusterName"`
	Containers  []AlertContainer  `json:"containers"`
	Annotations map[string]string `json:"annotations"`
	Inactive    bool              `json:"inactive"`
}

// AlertContainer is one container of an alert's deployment.
type AlertContainer struct {
	Image *ContainerImage `json:"image"`
	Name  string          `json:"name"`
}
