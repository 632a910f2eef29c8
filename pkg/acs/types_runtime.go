package acs

import "time"

// The types below are what a runtime gate reads of Central's answers after
// a rollout. They declare only the fields it uses; the rest of each
// document is skipped while decoding, and long strings are cut (see
// MaxText), so what is kept of a peer's answer stays small.

// Deployment is the response of GET /v1/deployments/{id} (storage.Deployment).
// Its ID is the workload's Kubernetes metadata.uid.
type Deployment struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Type        string     `json:"type"` // Deployment, StatefulSet, …
	Namespace   string     `json:"namespace"`
	NamespaceID string     `json:"namespaceId"`
	ClusterID   string     `json:"clusterId"`
	ClusterName string     `json:"clusterName"`
	Created     *time.Time `json:"created"`
	// Inactive is set once the workload was deleted; its runtime alerts stay.
	Inactive   bool                  `json:"inactive"`
	Containers []DeploymentContainer `json:"containers"`
}

// DeploymentContainer is one container of a Deployment.
type DeploymentContainer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Image.ID (the digest) is empty until Central has resolved the image;
	// upstream tests wait for it before they trust the deployment.
	Image *ContainerImage `json:"image"`
}

// ListAlert is one entry of GET /v1/alerts (storage.ListAlert).
type ListAlert struct {
	ID             string         `json:"id"`
	LifecycleStage LifecycleStage `json:"lifecycleStage"`
	// Time is the alert's last occurrence, on Sensor's clock. A merged
	// alert keeps its ID and gets a later Time.
	Time   *time.Time       `json:"time"`
	Policy *ListAlertPolicy `json:"policy"`
	State  AlertState       `json:"state"`
	// EnforcementCount is filled only while the alert is ACTIVE; for
	// KILL_POD_ENFORCEMENT it counts the pods killed.
	EnforcementCount  int32             `json:"enforcementCount"`
	EnforcementAction EnforcementAction `json:"enforcementAction"`
	CommonEntityInfo  *CommonEntityInfo `json:"commonEntityInfo"`
	// Exactly one entity is set: Deployment for workload alerts.
	Deployment *ListAlertDeployment `json:"deployment,omitempty"`
	Resource   *NamedEntity         `json:"resource,omitempty"`
	Node       *NamedEntity         `json:"node,omitempty"`
}

// ListAlertPolicy is the policy as a ListAlert names it.
type ListAlertPolicy struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Severity    PolicySeverity `json:"severity"`
	Description string         `json:"description"`
	Categories  []string       `json:"categories"`
}

// ListAlertDeployment is the deployment a ListAlert is about.
type ListAlertDeployment struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Inactive       bool   `json:"inactive"`
	DeploymentType string `json:"deploymentType"`
}

// CommonEntityInfo is where an alert's entity lives.
type CommonEntityInfo struct {
	ClusterName  string `json:"clusterName"`
	Namespace    string `json:"namespace"`
	ClusterID    string `json:"clusterId"`
	NamespaceID  string `json:"namespaceId"`
	ResourceType string `json:"resourceType"`
}

// NamedEntity is a resource or node entity of an alert.
type NamedEntity struct {
	Name string `json:"name"`
}

// ProcessViolation is the evidence of a process policy: the processes that
// broke it. Central keeps at most 40 per alert, the newest.
type ProcessViolation struct {
	Message   string             `json:"message"`
	Processes []ProcessIndicator `json:"processes"`
}

// ProcessIndicator is one process seen in a container (storage.ProcessIndicator).
type ProcessIndicator struct {
	ID            string `json:"id"`
	DeploymentID  string `json:"deploymentId"`
	ContainerName string `json:"containerName"`
	// PodID is the pod's name, PodUID its metadata.uid.
	PodID              string        `json:"podId"`
	PodUID             string        `json:"podUid"`
	ClusterID          string        `json:"clusterId"`
	Namespace          string        `json:"namespace"`
	ContainerStartTime *time.Time    `json:"containerStartTime"`
	ImageID            string        `json:"imageId"`
	Signal             ProcessSignal `json:"signal"`
}

// ProcessSignal is what the Collector saw of a process.
type ProcessSignal struct {
	ID          string `json:"id"`
	ContainerID string `json:"containerId"`
	// Time is the process's creation, on the node's clock.
	Time         *time.Time `json:"time"`
	Name         string     `json:"name"`
	Args         string     `json:"args"`
	ExecFilePath string     `json:"execFilePath"`
	PID          uint32     `json:"pid"`
	UID          uint32     `json:"uid"`
	GID          uint32     `json:"gid"`
	// Scraped is set for processes found by scraping /proc at Collector
	// start, not seen being executed.
	Scraped bool `json:"scraped"`
}

// ContainerProcesses is one (container, executable) group of
// GET /v1/processes/deployment/{id}/grouped/container
// (v1.ProcessNameAndContainerNameGroup).
type ContainerProcesses struct {
	// Name is the executable's path (signal.execFilePath).
	Name          string         `json:"name"`
	ContainerName string         `json:"containerName"`
	TimesExecuted uint32         `json:"timesExecuted"`
	Groups        []ProcessGroup `json:"groups"`
	// Suspicious: outside a locked baseline. A new deployment has no
	// locked baseline for about an hour, so this stays false; do not gate
	// on it.
	Suspicious bool `json:"suspicious"`
}

// ProcessGroup holds the processes of one executable run with the same
// arguments.
type ProcessGroup struct {
	Args    string             `json:"args"`
	Signals []ProcessIndicator `json:"signals"`
}

// Cluster is the part of GET /v1/clusters/{id} a runtime gate reads.
type Cluster struct {
	ID           string               `json:"id"`
	Name         string               `json:"name"`
	HealthStatus *ClusterHealthStatus `json:"healthStatus"`
}

// ClusterHealthStatus is Central's view of a secured cluster's Sensor and
// Collector. Runtime detection needs both.
type ClusterHealthStatus struct {
	SensorHealthStatus           HealthStatus `json:"sensorHealthStatus"`
	CollectorHealthStatus        HealthStatus `json:"collectorHealthStatus"`
	OverallHealthStatus          HealthStatus `json:"overallHealthStatus"`
	AdmissionControlHealthStatus HealthStatus `json:"admissionControlHealthStatus"`
	LastContact                  *time.Time   `json:"lastContact"`
	HealthInfoComplete           bool         `json:"healthInfoComplete"`
}

// HealthStatus is one component's health (storage.ClusterHealthStatus.HealthStatusLabel).
type HealthStatus string

// Health statuses.
const (
	HealthUninitialized HealthStatus = "UNINITIALIZED"
	HealthUnavailable   HealthStatus = "UNAVAILABLE"
	HealthUnhealthy     HealthStatus = "UNHEALTHY"
	HealthDegraded      HealthStatus = "DEGRADED"
	HealthHealthy       HealthStatus = "HEALTHY"
)
