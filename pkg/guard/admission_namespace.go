package guard

import (
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// TrustedNamespaceLabels are the labels other namespaces' NetworkPolicies
// trust to pick out the router, monitoring and Knative (see netpol.go): a
// namespace that could give itself one would be let in wherever those are.
// Each entry ending in "/" is a prefix.
var TrustedNamespaceLabels = []string{
	"policy-group.network.openshift.io/",
	openshiftMonitoring,
	knativeSystemNS,
	"serving.knative.openshift.io/system-namespace",
}

// protectedKey is CEL: whether label key k is for cluster admins only.
func protectedKey(k string) string {
	terms := []string{k + ".startsWith('modelguard.dev/')"}
	for _, l := range TrustedNamespaceLabels {
		if strings.HasSuffix(l, "/") {
			terms = append(terms, k+".startsWith('"+l+"')")
		} else {
			terms = append(terms, k+" == '"+l+"'")
		}
	}
	return "(" + strings.Join(terms, " || ") + ")"
}

// moved is CEL: the keys of map variable cur (and old) for which protected
// holds and whose value was added, changed or removed.
func moved(cur, old, protected string) string {
	return "variables." + cur + ".filter(k, " + protected + " && (!(k in variables." + old + ") || variables." + old + "[k] != variables." + cur + "[k]))" +
		" + variables." + old + ".filter(k, " + protected + " && !(k in variables." + cur + "))"
}

// namespaceLabelsPolicy keeps the opt-in, the limits and the trusted
// labels for cluster admins on every namespace, and keeps a guarded
// namespace's Pod Security level at or above the admin's lowest, whoever
// patches it (the controller has patch on namespaces for those labels, and
// the Task's ServiceAccount on the namespaces it guards).
func namespaceLabelsPolicy() policy {
	const enforce = "'pod-security.kubernetes.io/enforce'"
	return policy{
		name:        PolicyNamespaceLabels,
		description: "modelguard.dev/ labels and annotations, and the labels NetworkPolicies trust (router, monitoring, Knative), are set only by cluster admins; a guarded namespace's Pod Security enforce level never drops below modelguard.dev/allow-pod-security (default restricted).",
		rules:       []admissionregistrationv1.NamedRuleWithOperations{rules(createUpdate, "", v1, "namespaces")},
		conditions:  []admissionregistrationv1.MatchCondition{notGuardrailsAdmin},
		variables: []admissionregistrationv1.Variable{
			variable("labels", "object.metadata.?labels.orValue({})"),
			variable("oldLabels", "oldObject == null ? {} : oldObject.metadata.?labels.orValue({})"),
			variable("annotations", "object.metadata.?annotations.orValue({})"),
			variable("oldAnnotations", "oldObject == null ? {} : oldObject.metadata.?annotations.orValue({})"),
			variable("movedLabels", moved("labels", "oldLabels", protectedKey("k"))),
			variable("movedAnnotations", moved("annotations", "oldAnnotations", "k.startsWith('modelguard.dev/')")),
			variable("levels", "{'privileged': 0, 'baseline': 1, 'restricted': 2}"),
			variable("lowest", "variables.annotations[?'"+AllowPodSecurityAnnotation+"'].orValue('restricted')"),
			variable("enforce", "variables.labels[?"+enforce+"].orValue('privileged')"),
		},
		validations: []admissionregistrationv1.Validation{
			must("size(variables.movedLabels) == 0",
				"'label ' + variables.movedLabels[0] + ' on namespace ' + object.metadata.name + ' is set, changed or removed only by a cluster admin: the guard\\'s opt-in and profile live there, and other namespaces\\' NetworkPolicies trust the router, monitoring and Knative labels (policy "+PolicyNamespaceLabels+")'"),
			must("size(variables.movedAnnotations) == 0",
				"'annotation ' + variables.movedAnnotations[0] + ' on namespace ' + object.metadata.name + ' is set, changed or removed only by a cluster admin: the limits on what a guard may do live there (policy "+PolicyNamespaceLabels+")'"),
			must("!('"+NamespaceProfileLabel+"' in variables.oldLabels) || variables.labels[?"+enforce+"].orValue('') == variables.oldLabels[?"+enforce+"].orValue('') || variables.levels[?variables.enforce].orValue(0) >= variables.levels[?variables.lowest].orValue(2)",
				"'pod-security.kubernetes.io/enforce=' + variables.enforce + ' on namespace ' + object.metadata.name + ' is below ' + variables.lowest + ', the lowest Pod Security level a cluster admin allows there (annotation "+AllowPodSecurityAnnotation+", policy "+PolicyNamespaceLabels+")'"),
		},
	}
}
