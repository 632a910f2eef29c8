package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// OpenShift's restricted-v2 SCC, the part a pod sees, emulated with
// Kubernetes' own admission policies: OpenShift gives each namespace a UID
// range (annotation openshift.io/sa.scc.uid-range, "<first>/<size>") and
// its SCC admission sets a pod that names no UID to run as the first, with
// that fsGroup, and refuses a pod or container that names a UID outside
// the range. So a workload that assumes its image's USER, or a fixed UID,
// fails here as it would there. It applies to namespaces labelled
// SCCLabel=restricted-v2 (RestrictedNamespace makes them).
const (
	SCCLabel         = "localcluster.test/emulated-scc" // not modelguard.dev/: those keys are the guard's
	UIDRangeAnnotate = "openshift.io/sa.scc.uid-range"
	// EmulatedUID is the first UID of the range RestrictedNamespace gives,
	// in the range OpenShift hands out (1000000000 and up).
	EmulatedUID = 1000650000
)

// sccPolicies are the MutatingAdmissionPolicy (GA in Kubernetes 1.36)
// that assigns the UID and the ValidatingAdmissionPolicy that enforces the
// range, with their bindings.
const sccPolicies = `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata:
  name: emulated-restricted-v2-uid
spec:
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["CREATE"]
        resources: ["pods"]
  matchConditions:
    - name: names-no-uid
      expression: "!has(object.spec.securityContext) || !has(object.spec.securityContext.runAsUser)"
  variables:
    - name: uid
      expression: 'int(namespaceObject.metadata.annotations["` + UIDRangeAnnotate + `"].split("/")[0])'
  failurePolicy: Fail
  reinvocationPolicy: Never
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: >
          Object{spec: Object.spec{securityContext: Object.spec.securityContext{
            runAsUser: variables.uid, fsGroup: variables.uid}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata:
  name: emulated-restricted-v2-uid
spec:
  policyName: emulated-restricted-v2-uid
  matchResources:
    namespaceSelector:
      matchLabels:
        ` + SCCLabel + `: restricted-v2
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: emulated-restricted-v2-uid-range
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["pods"]
  variables:
    - name: first
      expression: 'int(namespaceObject.metadata.annotations["` + UIDRangeAnnotate + `"].split("/")[0])'
    - name: last
      expression: 'variables.first + int(namespaceObject.metadata.annotations["` + UIDRangeAnnotate + `"].split("/")[1]) - 1'
    - name: uids
      expression: >
        (has(object.spec.securityContext) && has(object.spec.securityContext.runAsUser) ? [object.spec.securityContext.runAsUser] : []) +
        object.spec.containers.filter(c, has(c.securityContext) && has(c.securityContext.runAsUser)).map(c, c.securityContext.runAsUser) +
        (has(object.spec.initContainers) ? object.spec.initContainers.filter(c, has(c.securityContext) && has(c.securityContext.runAsUser)).map(c, c.securityContext.runAsUser) : [])
  validations:
    - expression: "variables.uids.all(u, u >= variables.first && u <= variables.last)"
      messageExpression: "'unable to validate against any security context constraint: runAsUser must be in the namespace range ' + string(variables.first) + '-' + string(variables.last) + ' (emulated restricted-v2)'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: emulated-restricted-v2-uid-range
spec:
  policyName: emulated-restricted-v2-uid-range
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        ` + SCCLabel + `: restricted-v2
`

// EmulateRestrictedV2 installs the admission policies that emulate
// restricted-v2's UID assignment (see SCCLabel).
func (c *Cluster) EmulateRestrictedV2(ctx context.Context) error {
	path := filepath.Join(c.Dir, "restricted-v2.yaml")
	if err := os.WriteFile(path, []byte(sccPolicies), 0o644); err != nil {
		return fmt.Errorf("emulate restricted-v2: %w", err)
	}
	if _, err := c.Kubectl(ctx, UserAdmin, "apply", "--server-side", "-f", path); err != nil {
		return fmt.Errorf("emulate restricted-v2: %w", err)
	}
	return nil
}

// RestrictedNamespace creates namespace name as a restricted cluster has
// it: Pod Security "restricted" enforced (and warned and audited), and,
// with EmulateRestrictedV2 installed, UIDs assigned from a range as
// OpenShift's restricted-v2 does. An existing namespace gets the labels.
func (c *Cluster) RestrictedNamespace(ctx context.Context, client kubernetes.Interface, name string, labels map[string]string) error {
	want := map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn":            "restricted",
		"pod-security.kubernetes.io/audit":           "restricted",
		SCCLabel:                                     "restricted-v2",
	}
	for k, v := range labels {
		want[k] = v
	}
	ann := map[string]string{UIDRangeAnnotate: strconv.Itoa(EmulatedUID) + "/10000"}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: want, Annotations: ann}}
	_, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		for k, v := range want {
			cur.Labels[k] = v
		}
		for k, v := range ann {
			cur.Annotations[k] = v
		}
		_, err = client.CoreV1().Namespaces().Update(ctx, cur, metav1.UpdateOptions{})
		return err
	}
	return err
}
