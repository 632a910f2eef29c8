package acsemulator

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The runtime answers in the gateway's JSON, key for key as the runtime
// fixtures in pkg/acs/testdata (TestRuntimeShapesMatchFixtures checks).

func (rs *runtimeState) renderDeployment(w *workload) obj {
	c := rs.cluster(w.ClusterID)
	containers := make([]obj, 0, len(w.Containers))
	for _, ct := range w.Containers {
		containers = append(containers, obj{
			"id":     w.UID + ":" + ct.Name,
			"config": obj{"env": []any{}, "command": []string{}, "args": []string{}, "directory": "", "user": "", "uid": "0", "appArmorProfile": ""},
			"image":  containerImageObj(ct.Image),
			"securityContext": obj{"privileged": false, "selinux": nil, "dropCapabilities": []string{}, "addCapabilities": []string{},
				"privilegeEscalation": false, "readOnlyRootFilesystem": false, "seccompProfile": nil, "allowPrivilegeEscalation": false},
			"volumes": []any{}, "ports": []any{}, "secrets": []any{},
			"resources":     obj{"cpuCoresRequest": 0, "cpuCoresLimit": 0, "memoryMbRequest": 0, "memoryMbLimit": 0},
			"name":          ct.Name,
			"livenessProbe": obj{"defined": false}, "readinessProbe": obj{"defined": false},
		})
	}
	labels := orEmpty(w.Labels)
	return obj{
		"id": w.UID, "name": w.Name, "hash": strconv.FormatUint(uint64(len(w.Containers))*7919+1, 10), "type": w.Type,
		"namespace": w.Namespace, "namespaceId": w.namespaceID, "orchestratorComponent": false, "replicas": "1",
		"labels": labels, "podLabels": labels, "labelSelector": obj{"matchLabels": labels, "requirements": []any{}},
		"created": protoTime(w.added), "clusterId": c.ID, "clusterName": c.Name, "containers": containers,
		"annotations": map[string]string{}, "priority": "0", "inactive": false, "imagePullSecrets": []string{},
		"serviceAccount": "default", "serviceAccountPermissionLevel": "NONE", "automountServiceAccountToken": false,
		"hostNetwork": false, "hostPid": false, "hostIpc": false, "runtimeClass": "", "tolerations": []any{}, "ports": []any{},
		"stateTimestamp": strconv.FormatInt(w.added.UnixMicro(), 10), "riskScore": 1.0, "platformComponent": false,
	}
}

// containerImageObj is storage.ContainerImage for a reference: the digest
// is the id (empty for a tag-only reference, as before Central resolves it).
func containerImageObj(ref string) obj {
	digest := ""
	if at := strings.LastIndexByte(ref, '@'); at >= 0 {
		digest = ref[at+1:]
	}
	name := obj{"registry": "", "remote": ref, "tag": "", "fullName": ref}
	if parsed, err := parseImageName(ref); err == nil {
		name = nameObj(parsed)
	}
	return obj{"id": digest, "name": name, "notPullable": false, "isClusterLocal": false, "idV2": ""}
}

func (rs *runtimeState) entityInfo(w *workload) obj {
	c := rs.cluster(w.ClusterID)
	return obj{"clusterName": c.Name, "namespace": w.Namespace, "clusterId": c.ID, "namespaceId": w.namespaceID, "resourceType": "DEPLOYMENT"}
}

func (a *rtAlert) enforcementAction() string {
	if contains(a.policy.actions, "KILL_POD_ENFORCEMENT") && len(a.podsKilled) > 0 {
		return "KILL_POD_ENFORCEMENT"
	}
	return "UNSET_ENFORCEMENT"
}

// enforcementCount is filled only while ACTIVE, as Central does.
func (a *rtAlert) enforcementCount() int {
	if a.state != "ACTIVE" {
		return 0
	}
	return len(a.podsKilled)
}

func (rs *runtimeState) renderListAlert(a *rtAlert) obj {
	c := rs.cluster(a.w.ClusterID)
	return obj{
		"id": a.id, "lifecycleStage": a.stage, "time": protoTime(a.time),
		"policy": obj{"id": a.policy.id, "name": a.policy.name, "severity": a.policy.severity + "_SEVERITY",
			"description": a.policy.description, "categories": orEmptyList(a.policy.categories)},
		"state": a.state, "enforcementCount": a.enforcementCount(), "enforcementAction": a.enforcementAction(),
		"commonEntityInfo": rs.entityInfo(a.w),
		"deployment": obj{"id": a.w.UID, "name": a.w.Name, "clusterName": c.Name, "namespace": a.w.Namespace,
			"clusterId": c.ID, "inactive": a.w.removed, "namespaceId": a.w.namespaceID, "deploymentType": a.w.Type},
	}
}

func (rs *runtimeState) renderAlert(a *rtAlert) obj {
	c := rs.cluster(a.w.ClusterID)
	containers := make([]obj, 0, len(a.w.Containers))
	for _, ct := range a.w.Containers {
		containers = append(containers, obj{"image": containerImageObj(ct.Image), "name": ct.Name})
	}
	labels := orEmpty(a.w.Labels)
	violations := []obj{}
	for _, m := range a.violations {
		violations = append(violations, obj{"message": m, "type": "GENERIC", "time": nil})
	}
	var pv, enforcement any
	if len(a.processes) > 0 {
		procs := make([]obj, 0, len(a.processes))
		for _, p := range a.processes {
			procs = append(procs, rs.renderIndicator(a.w, p))
		}
		pv = obj{"message": processMessage(a.processes), "processes": procs}
	}
	if a.enforcementAction() == "KILL_POD_ENFORCEMENT" {
		enforcement = obj{"action": "KILL_POD_ENFORCEMENT", "message": fmt.Sprintf("Deleted %d pods in response to this policy violation", len(a.podsKilled))}
	}
	var resolved any
	if a.state == "RESOLVED" {
		resolved = protoTime(a.resolvedAt)
	}
	return obj{
		"id": a.id, "policy": a.policy.render(a.stage), "lifecycleStage": a.stage,
		"clusterId": c.ID, "clusterName": c.Name, "namespace": a.w.Namespace, "namespaceId": a.w.namespaceID,
		"deployment": obj{"id": a.w.UID, "name": a.w.Name, "type": a.w.Type, "namespace": a.w.Namespace, "namespaceId": a.w.namespaceID,
			"labels": labels, "clusterId": c.ID, "clusterName": c.Name, "containers": containers,
			"annotations": map[string]string{}, "inactive": a.w.removed},
		"violations": violations, "processViolation": pv, "enforcement": enforcement,
		"time": protoTime(a.time), "firstOccurred": protoTime(a.first), "resolvedAt": resolved, "state": a.state,
		"snoozeTill": nil, "platformComponent": false, "entityType": "DEPLOYMENT", "enforcementCount": a.enforcementCount(),
	}
}

// processMessage is Central's wording for a process violation.
func processMessage(ps []*indicator) string {
	p := ps[len(ps)-1]
	if len(ps) == 1 {
		return fmt.Sprintf("Binary '%s' executed with arguments '%s' under user ID %d", p.path, p.args, p.uid)
	}
	return fmt.Sprintf("Binary '%s' executed with %d different arguments", p.path, len(ps))
}

func (p alertPolicy) render(stage string) obj {
	source := "DEPLOYMENT_EVENT"
	if stage != "RUNTIME" {
		source = "NOT_APPLICABLE"
	}
	return obj{
		"id": p.id, "name": p.name, "severity": p.severity + "_SEVERITY", "description": p.description,
		"categories": orEmptyList(p.categories), "rationale": p.rationale, "remediation": p.remediation, "disabled": false,
		"lifecycleStages": []string{stage}, "eventSource": source, "exclusions": []any{}, "scope": []any{},
		"enforcementActions": orEmptyList(p.actions), "notifiers": []string{}, "lastUpdated": nil,
		"SORTName": "", "SORTLifecycleStage": "", "SORTEnforcement": len(p.actions) > 0, "policyVersion": "1.1",
		"policySections":     []obj{{"sectionName": "", "policyGroups": p.rule}},
		"mitreAttackVectors": []any{}, "criteriaLocked": false, "mitreVectorsLocked": false, "isDefault": false,
		"source": "IMPERATIVE", "evaluationFilter": nil,
	}
}

func (rs *runtimeState) renderIndicator(w *workload, p *indicator) obj {
	return obj{
		"id": p.id, "deploymentId": w.UID, "containerName": p.container, "podId": p.pod, "podUid": p.podUID,
		"signal": obj{"id": stableUUID("signal", p.id), "containerId": hexHash("container", w.UID+p.pod+p.container)[:12],
			"time": protoTime(p.time), "name": p.name, "args": p.args, "execFilePath": p.path, "pid": p.pid,
			"uid": p.uid, "gid": 0, "lineageInfo": []any{}, "scraped": false, "lineage": []string{}},
		"clusterId": w.ClusterID, "namespace": w.Namespace, "containerStartTime": protoTime(w.started), "imageId": imageOf(w, p.container),
	}
}

func imageOf(w *workload, container string) string {
	for _, c := range w.Containers {
		if c.Name == container {
			if at := strings.LastIndexByte(c.Image, '@'); at >= 0 {
				return c.Image[at+1:]
			}
		}
	}
	return ""
}

func (e *Emulator) renderCluster(c *ClusterData) obj {
	overall := c.SensorHealth
	if c.CollectorHealth != "HEALTHY" && overall == "HEALTHY" {
		overall = "DEGRADED"
	}
	return obj{
		"id": c.ID, "name": c.Name, "type": "KUBERNETES_CLUSTER", "labels": map[string]string{}, "mainImage": "acsemulator/main",
		"collectorImage": "acsemulator/collector", "centralApiEndpoint": "central.stackrox.svc:443", "runtimeSupport": true,
		"collectionMethod": "CORE_BPF", "admissionController": false, "admissionControllerUpdates": false, "admissionControllerEvents": false,
		"status": obj{"sensorVersion": e.central.Version, "DEPRECATEDLastContact": nil, "providerMetadata": nil,
			"orchestratorMetadata": nil, "upgradeStatus": nil, "certExpiryStatus": nil},
		"dynamicConfig": nil, "tolerationsConfig": nil, "priority": "1",
		"healthStatus": obj{"id": c.ID, "collectorHealthInfo": nil, "admissionControlHealthInfo": nil, "scannerHealthInfo": nil,
			"sensorHealthStatus": c.SensorHealth, "collectorHealthStatus": c.CollectorHealth, "overallHealthStatus": overall,
			"admissionControlHealthStatus": "UNINITIALIZED", "scannerHealthStatus": "UNINITIALIZED",
			"lastContact": protoTime(time.Now().Add(-5 * time.Second)), "healthInfoComplete": true},
		"slimCollector": false, "helmConfig": nil, "mostRecentSensorId": nil, "auditLogState": obj{}, "initBundleId": "",
		"managedBy": "MANAGER_TYPE_MANUAL", "sensorCapabilities": []string{},
	}
}

// runtimeGroups renders a ProcessRule in Central's field names.
func runtimeGroups(m ProcessRule) []obj {
	var groups []obj
	add := func(field, value string) {
		groups = append(groups, obj{"fieldName": field, "booleanOperator": "OR", "negate": false, "values": []obj{{"value": value}}})
	}
	if m.ProcessName != "" {
		add("Process Name", m.ProcessName)
	}
	if m.ExecPath != "" {
		add("Process Name (path, acsemulator)", m.ExecPath)
	}
	if m.Args != "" {
		add("Process Arguments", m.Args)
	}
	if m.UID != nil {
		add("Process UID", strconv.FormatUint(uint64(*m.UID), 10))
	}
	return groups
}
