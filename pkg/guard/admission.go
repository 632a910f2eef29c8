package guard

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// The persona rules that RBAC alone cannot state are enforced by the API
// server itself, with ValidatingAdmissionPolicies. They are static, in
// config/ (built here, golden-checked), and select guarded namespaces by
// the admin's NamespaceProfileLabel; the guard never creates them. A
// controller that could create cluster-scoped policies could also change
// or delete the ones that hold it back, or block every write in the
// cluster; a policy shipped with the install and owned by the cluster
// admin cannot be turned against anyone by a CustomRun.
//
// Everyone is subject to them except guardrails admins: cluster admins
// (system:masters, or whoever is granted GuardrailsAdminRole's one
// permission). The controller and the Task's ServiceAccount are not.

// The permission that makes a guardrails admin. It names no real API; it
// exists only to be asked about by the policies' authorizer checks.
const (
	GuardrailsAdminGroup    = "modelguard.dev"
	GuardrailsAdminResource = "guardrails"
	GuardrailsAdminVerb     = "manage"
	GuardrailsAdminRole     = "modelguard-guardrails-admin"
)

// The admission policies, by name.
const (
	PolicyNamespaceLabels = "modelguard-namespace-labels"
	PolicyWorkloadSecrets = "modelguard-workload-secrets"
	PolicyPipelinePods    = "modelguard-pipeline-pods"
	PolicyProdPipelines   = "modelguard-prod-pipelines"
	PolicySATokens        = "modelguard-service-account-tokens"
	PolicyPersonaBindings = "modelguard-persona-bindings"
)

// policy is one ValidatingAdmissionPolicy and the namespaces its binding
// selects (nil: every namespace).
type policy struct {
	name, description string
	rules             []admissionregistrationv1.NamedRuleWithOperations
	namespaces        *metav1.LabelSelector
	conditions        []admissionregistrationv1.MatchCondition
	variables         []admissionregistrationv1.Variable
	validations       []admissionregistrationv1.Validation
}

// AdmissionPolicies are the objects config/ installs for admission: the
// policies, one Deny binding each, and the guardrails admin ClusterRole.
func AdmissionPolicies() []runtime.Object {
	out := []runtime.Object{guardrailsAdminRole()}
	for _, p := range []policy{namespaceLabelsPolicy(), workloadSecretsPolicy(), pipelinePodsPolicy(),
		prodPipelinesPolicy(), saTokensPolicy(), personaBindingsPolicy()} {
		out = append(out, p.object(), p.binding())
	}
	return out
}

func (p policy) object() *admissionregistrationv1.ValidatingAdmissionPolicy {
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Labels: map[string]string{ManagedByLabel: ManagedBy},
			Annotations: map[string]string{"modelguard.dev/description": p.description}},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: p.rules},
			MatchConditions:  p.conditions,
			Variables:        p.variables,
			Validations:      p.validations,
		},
	}
}

func (p policy) binding() *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Labels: map[string]string{ManagedByLabel: ManagedBy}},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        p.name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	if p.namespaces != nil {
		b.Spec.MatchResources = &admissionregistrationv1.MatchResources{NamespaceSelector: p.namespaces}
	}
	return b
}

func guardrailsAdminRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: GuardrailsAdminRole, Labels: map[string]string{ManagedByLabel: ManagedBy},
			Annotations: map[string]string{"modelguard.dev/description": "Bind to the cluster admins (besides system:masters) who may set modelguard.dev/ and trusted namespace labels and are exempt from the modelguard admission policies, and to platform operators that set the trusted labels themselves (OpenShift's ingress, monitoring or Serverless operators). Never to the modelguard controller, a pipeline's ServiceAccount, or anything a namespace's users can drive."}},
		Rules: []rbacv1.PolicyRule{rule([]string{GuardrailsAdminVerb}, GuardrailsAdminGroup, GuardrailsAdminResource)},
	}
}

// guarded selects the namespaces a cluster admin declared a profile for;
// prodOnly those declared prod.
func guarded(prodOnly bool) *metav1.LabelSelector {
	values := []string{string(Dev), string(Staging), string(Prod)}
	if prodOnly {
		values = []string{string(Prod)}
	}
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: NamespaceProfileLabel, Operator: metav1.LabelSelectorOpIn, Values: values}}}
}

func rules(ops []admissionregistrationv1.OperationType, group string, versions []string, resources ...string) admissionregistrationv1.NamedRuleWithOperations {
	return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: versions, Resources: resources},
	}}
}

var (
	createUpdate = []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	createOnly   = []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	v1           = []string{"v1"}
	anyVersion   = []string{"*"}
)

func variable(name, expr string) admissionregistrationv1.Variable {
	return admissionregistrationv1.Variable{Name: name, Expression: expr}
}

func must(expr, message string) admissionregistrationv1.Validation {
	return admissionregistrationv1.Validation{Expression: expr, MessageExpression: message}
}

// specChanged skips updates that leave the spec alone (a controller
// adding a finalizer or a label): what the policies judge is in the spec.
var specChanged = admissionregistrationv1.MatchCondition{
	Name:       "spec-changed",
	Expression: "request.operation != 'UPDATE' || object.?spec.orValue({}) != oldObject.?spec.orValue({})",
}

// notGuardrailsAdmin exempts cluster admins from a policy.
var notGuardrailsAdmin = admissionregistrationv1.MatchCondition{
	Name:       "not-a-guardrails-admin",
	Expression: "!authorizer.group('" + GuardrailsAdminGroup + "').resource('" + GuardrailsAdminResource + "').check('" + GuardrailsAdminVerb + "').allowed()",
}
