package acs

// Enums travel as their proto names. They are string types, not ints, so a
// value added by a newer Central decodes (and prints) as itself instead of
// failing the whole response; the constants below are the values known at the
// time of writing (stackrox proto/storage).

// VulnerabilitySeverity is a vulnerability's vendor-rated severity
// (storage.VulnerabilitySeverity).
type VulnerabilitySeverity string

// Vulnerability severities.
const (
	VulnSeverityUnknown   VulnerabilitySeverity = "UNKNOWN_VULNERABILITY_SEVERITY"
	VulnSeverityLow       VulnerabilitySeverity = "LOW_VULNERABILITY_SEVERITY"
	VulnSeverityModerate  VulnerabilitySeverity = "MODERATE_VULNERABILITY_SEVERITY"
	VulnSeverityImportant VulnerabilitySeverity = "IMPORTANT_VULNERABILITY_SEVERITY"
	VulnSeverityCritical  VulnerabilitySeverity = "CRITICAL_VULNERABILITY_SEVERITY"
)

// ScanNote qualifies a scan (storage.ImageScan.Note). Any note other than
// UNSET means the scan may be missing vulnerabilities.
type ScanNote string

// Scan notes.
const (
	ScanNoteUnset                        ScanNote = "UNSET"
	ScanNoteOSUnavailable                ScanNote = "OS_UNAVAILABLE"
	ScanNotePartialScanData              ScanNote = "PARTIAL_SCAN_DATA"
	ScanNoteOSCVEsUnavailable            ScanNote = "OS_CVES_UNAVAILABLE"
	ScanNoteOSCVEsStale                  ScanNote = "OS_CVES_STALE"
	ScanNoteLanguageCVEsUnavailable      ScanNote = "LANGUAGE_CVES_UNAVAILABLE"
	ScanNoteCertifiedRHELScanUnavailable ScanNote = "CERTIFIED_RHEL_SCAN_UNAVAILABLE"
)

// ImageNote qualifies an image as a whole (storage.Image.Note).
type ImageNote string

// Image notes.
const (
	ImageNoteMissingMetadata                  ImageNote = "MISSING_METADATA"
	ImageNoteMissingScanData                  ImageNote = "MISSING_SCAN_DATA"
	ImageNoteMissingSignature                 ImageNote = "MISSING_SIGNATURE"
	ImageNoteMissingSignatureVerificationData ImageNote = "MISSING_SIGNATURE_VERIFICATION_DATA"
)

// PolicySeverity is a policy's severity (storage.Severity).
type PolicySeverity string

// Policy severities.
const (
	PolicySeverityUnset    PolicySeverity = "UNSET_SEVERITY"
	PolicySeverityLow      PolicySeverity = "LOW_SEVERITY"
	PolicySeverityMedium   PolicySeverity = "MEDIUM_SEVERITY"
	PolicySeverityHigh     PolicySeverity = "HIGH_SEVERITY"
	PolicySeverityCritical PolicySeverity = "CRITICAL_SEVERITY"
)

// EnforcementAction is what a policy asks the platform to do when violated
// (storage.EnforcementAction). roxctl fails `image check` on
// FAIL_BUILD_ENFORCEMENT and `deployment check` on SCALE_TO_ZERO_ENFORCEMENT;
// that rule lives in pkg/gate, not here.
type EnforcementAction string

// Enforcement actions.
const (
	EnforcementUnset                       EnforcementAction = "UNSET_ENFORCEMENT"
	EnforcementScaleToZero                 EnforcementAction = "SCALE_TO_ZERO_ENFORCEMENT"
	EnforcementUnsatisfiableNodeConstraint EnforcementAction = "UNSATISFIABLE_NODE_CONSTRAINT_ENFORCEMENT"
	EnforcementKillPod                     EnforcementAction = "KILL_POD_ENFORCEMENT"
	EnforcementFailBuild                   EnforcementAction = "FAIL_BUILD_ENFORCEMENT"
	EnforcementFailKubeRequest             EnforcementAction = "FAIL_KUBE_REQUEST_ENFORCEMENT"
	EnforcementFailDeploymentCreate        EnforcementAction = "FAIL_DEPLOYMENT_CREATE_ENFORCEMENT"
	EnforcementFailDeploymentUpdate        EnforcementAction = "FAIL_DEPLOYMENT_UPDATE_ENFORCEMENT"
)

// LifecycleStage is where a policy applies (storage.LifecycleStage).
type LifecycleStage string

// Lifecycle stages.
const (
	StageDeploy  LifecycleStage = "DEPLOY"
	StageBuild   LifecycleStage = "BUILD"
	StageRuntime LifecycleStage = "RUNTIME"
)

// AlertState is an alert's state (storage.ViolationState).
type AlertState string

// Alert states.
const (
	AlertActive    AlertState = "ACTIVE"
	AlertSnoozed   AlertState = "SNOOZED"
	AlertResolved  AlertState = "RESOLVED"
	AlertAttempted AlertState = "ATTEMPTED"
)

// Access is a permission level on one resource (storage.Access).
type Access string

// Access levels.
const (
	NoAccess        Access = "NO_ACCESS"
	ReadAccess      Access = "READ_ACCESS"
	ReadWriteAccess Access = "READ_WRITE_ACCESS"
)
