package acsemulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// deployRequest is DeployYAMLDetectionRequest.
type deployRequest struct {
	YAML               string   `json:"yaml"`
	NoExternalMetadata bool     `json:"noExternalMetadata"`
	EnforcementOnly    bool     `json:"enforcementOnly"`
	Force              bool     `json:"force"`
	PolicyCategories   []string `json:"policyCategories"`
	Cluster            string   `json:"cluster"`
	Namespace          string   `json:"namespace"`
}

type k8sMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type k8sObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   k8sMeta           `json:"metadata"`
	Spec       json.RawMessage   `json:"spec"`
	Items      []json.RawMessage `json:"items"` // kind: List
}

type securityContext struct {
	Privileged   *bool  `json:"privileged"`
	RunAsUser    *int64 `json:"runAsUser"`
	RunAsNonRoot *bool  `json:"runAsNonRoot"`
}

type podSpec struct {
	SecurityContext *securityContext `json:"securityContext"`
	Containers      []struct {
		Name            string           `json:"name"`
		Image           string           `json:"image"`
		SecurityContext *securityContext `json:"securityContext"`
		Resources       struct {
			Limits map[string]any `json:"limits"`
		} `json:"resources"`
	} `json:"containers"`
}

type podTemplate struct {
	Metadata k8sMeta `json:"metadata"`
	Spec     podSpec `json:"spec"`
}

// workloadKinds are the kinds Central turns into a deployment
// (kubernetes.IsDeploymentResource); other known kinds are skipped quietly.
var workloadKinds = map[string]bool{"Deployment": true, "DaemonSet": true, "StatefulSet": true,
	"ReplicaSet": true, "ReplicationController": true, "Job": true, "CronJob": true, "Pod": true,
	"DeploymentConfig": true}

// parsed holds what one request's YAML contained.
type parsed struct {
	workloads []k8sObject
	netpols   []k8sObject
	ignored   []string
}

// detectDeployYAML is POST /v1/detect/deploy/yaml
// (DetectionService.DetectDeployTimeFromYAML): one run per workload, with the
// deploy policies evaluated against its containers and their images.
func (e *Emulator) detectDeployYAML(w http.ResponseWriter, r *http.Request) {
	var req deployRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.YAML == "" {
		writeError(w, codeInvalidArgument, "invalid arguments: yaml field must be specified in detection request")
		return
	}
	var objs parsed
	if err := objs.add(req.YAML); err != nil {
		writeError(w, codeInvalidArgument, "could not parse yaml: "+err.Error())
		return
	}
	if req.Force && req.NoExternalMetadata {
		writeError(w, codeInvalidArgument, errForceAndNoMetadata)
		return
	}
	policies, unused := selectPolicies(e.deploy, req.PolicyCategories, req.EnforcementOnly)
	if len(unused) > 0 {
		// errox.InvalidArgs.New("unable to convert object").CausedBy(...) in Central.
		writeError(w, codeInvalidArgument, fmt.Sprintf(
			"unable to convert object: allowed categories %v did not match any policy categories", unused))
		return
	}
	now := protoTime(time.Now().UTC())
	runs, remarks := []obj{}, []obj{}
	for _, o := range objs.workloads {
		ns := firstNonEmpty(o.Metadata.Namespace, req.Namespace, "default")
		tmpl, err := podTemplateOf(o)
		if err != nil {
			writeError(w, codeInvalidArgument, "unable to convert object: could not convert to deployment from resource: "+err.Error())
			return
		}
		var containers []obj
		var checks []func(*policy) []string
		for _, c := range tmpl.Spec.Containers {
			ref, err := parseImageName(c.Image)
			if err != nil {
				writeError(w, codeInvalidArgument, "unable to convert object: could not convert to deployment from resource: "+
					badNameMessage(c.Image, err))
				return
			}
			img := e.lookup(ref)
			containers = append(containers, obj{"image": e.containerImage(ref, img, false), "name": c.Name})
			view := imageView{ref: ref, img: img, scan: img != nil && !img.NoScanData}
			ct := &container{name: c.Name}
			for _, sc := range []*securityContext{tmpl.Spec.SecurityContext, c.SecurityContext} {
				if sc != nil { // container settings override the pod's
					ct.privileged = ct.privileged || sc.Privileged != nil && *sc.Privileged
					if sc.RunAsUser != nil {
						ct.runAsUser = sc.RunAsUser
					}
					if sc.RunAsNonRoot != nil {
						ct.runAsNonRoot = *sc.RunAsNonRoot
					}
				}
			}
			ct.hasCPULimit = c.Resources.Limits["cpu"] != nil
			ct.hasMemoryLimit = c.Resources.Limits["memory"] != nil
			checks = append(checks, func(p *policy) []string { return p.Match.eval(view, ct) })
		}
		deployment := obj{
			"id": "", "name": o.Metadata.Name, "type": o.Kind, "namespace": ns, "namespaceId": "",
			"labels": orEmpty(o.Metadata.Labels), "clusterId": "", "clusterName": "",
			"containers": orEmptyList(containers), "annotations": orEmpty(o.Metadata.Annotations), "inactive": false,
		}
		alerts := []obj{}
		for _, p := range policies {
			var msgs []string
			for _, check := range checks {
				msgs = append(msgs, check(p)...)
			}
			if len(msgs) > 0 {
				alerts = append(alerts, e.alert(p, "deployment", deployment, msgs, deployEnforcement(p), now))
			}
		}
		runs = append(runs, obj{"name": o.Metadata.Name, "type": o.Kind, "alerts": alerts})
		if req.Cluster != "" {
			remarks = append(remarks, obj{"name": o.Metadata.Name, "permissionLevel": "NONE",
				"appliedNetworkPolicies": objs.appliedNetworkPolicies(ns, tmpl.Metadata.Labels, req.Namespace)})
		}
	}
	writeJSON(w, r, http.StatusOK, obj{"runs": runs, "ignoredObjectRefs": orEmptyList(objs.ignored), "remarks": remarks})
}

// deployEnforcement is the alert's enforcement for the deploy-time actions
// Central applies itself (pkg/detection/deploytime/utils.go).
func deployEnforcement(p *policy) any {
	switch {
	case p.has("SCALE_TO_ZERO_ENFORCEMENT"):
		return obj{"action": "SCALE_TO_ZERO_ENFORCEMENT",
			"message": "Deployment scaled to 0 replicas in response to this policy violation."}
	case p.has("UNSATISFIABLE_NODE_CONSTRAINT_ENFORCEMENT"):
		return obj{"action": "UNSATISFIABLE_NODE_CONSTRAINT_ENFORCEMENT",
			"message": "Unsatisfiable node constraint applied to deployment in response to this policy violation."}
	}
	return nil
}

// add splits multi-document YAML and sorts the objects. Like Central, kinds
// it cannot decode (CRDs such as a KServe InferenceService) are reported in
// ignoredObjectRefs; here "cannot decode" means an API group that is not
// built into Kubernetes or OpenShift.
func (p *parsed) add(text string) error {
	for _, doc := range splitYAML(text) {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return err
		}
		if s := strings.TrimSpace(string(js)); s == "null" || s == "" {
			continue // an empty document
		}
		if err := p.addJSON(js); err != nil {
			return err
		}
	}
	return nil
}

func (p *parsed) addJSON(js []byte) error {
	var o k8sObject
	if err := json.Unmarshal(js, &o); err != nil {
		return err
	}
	if o.Kind == "" {
		return fmt.Errorf("Object 'Kind' is missing in '%s'", js)
	}
	if o.Kind == "List" && !strings.Contains(o.APIVersion, "/") {
		for _, item := range o.Items {
			if err := p.addJSON(item); err != nil {
				return err
			}
		}
		return nil
	}
	group, _, _ := strings.Cut(o.APIVersion, "/")
	if !strings.Contains(o.APIVersion, "/") {
		group = ""
	}
	switch {
	case strings.Contains(group, ".") && !strings.HasSuffix(group, ".k8s.io") && !strings.HasSuffix(group, ".openshift.io"):
		p.ignored = append(p.ignored, fmt.Sprintf("%s/%s[%s, Kind=%s]", o.Metadata.Namespace, o.Metadata.Name, o.APIVersion, o.Kind))
	case workloadKinds[o.Kind]:
		p.workloads = append(p.workloads, o)
	case o.Kind == "NetworkPolicy":
		p.netpols = append(p.netpols, o)
	}
	return nil
}

// splitYAML splits on "---" document separators.
func splitYAML(text string) []string {
	var docs []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if t := strings.TrimRight(line, " \t\r\n"); t == "---" || strings.HasPrefix(t, "--- ") {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(docs, cur.String())
}

// podTemplateOf finds the pod template wherever the kind keeps it.
func podTemplateOf(o k8sObject) (podTemplate, error) {
	var t podTemplate
	if len(o.Spec) == 0 {
		return t, nil
	}
	var err error
	switch o.Kind {
	case "Pod":
		t.Metadata = o.Metadata
		err = json.Unmarshal(o.Spec, &t.Spec)
	case "CronJob":
		var s struct {
			JobTemplate struct {
				Spec struct {
					Template podTemplate `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
		}
		err = json.Unmarshal(o.Spec, &s)
		t = s.JobTemplate.Spec.Template
	default:
		var s struct {
			Template podTemplate `json:"template"`
		}
		err = json.Unmarshal(o.Spec, &s)
		t = s.Template
	}
	return t, err
}

// appliedNetworkPolicies stands in for what Central reads from the secured
// cluster when a request names one: the NetworkPolicies in the same YAML and
// namespace whose podSelector.matchLabels the pod labels satisfy (an empty
// selector selects every pod; matchExpressions are not evaluated).
func (p *parsed) appliedNetworkPolicies(ns string, podLabels map[string]string, reqNS string) []string {
	names := []string{}
	for _, np := range p.netpols {
		if firstNonEmpty(np.Metadata.Namespace, reqNS, "default") != ns {
			continue
		}
		var spec struct {
			PodSelector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"podSelector"`
		}
		_ = json.Unmarshal(np.Spec, &spec)
		ok := true
		for k, v := range spec.PodSelector.MatchLabels {
			ok = ok && podLabels[k] == v
		}
		if ok {
			names = append(names, np.Metadata.Name)
		}
	}
	sort.Strings(names)
	return names
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func orEmptyList[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}
