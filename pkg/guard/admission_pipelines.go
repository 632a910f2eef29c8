package guard

import (
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// "Prod changes go through pipelines" holds only if the pipeline that runs
// is one the cluster admin trusts: in prod, a PipelineRun names a pipeline
// by bundle digest or by git commit, from the admin's lists, and carries no
// inline spec. TaskRuns of a PipelineRun (owned by it) follow from it.
func prodPipelinesPolicy() policy {
	param := func(name string) string { return "variables.params.filter(p, p.name == '" + name + "')" }
	str := func(v string) string { return "type(" + v + ") == string" }
	onlyParams := func(names ...string) string {
		return "variables.names.all(n, n in ['" + strings.Join(names, "', '") + "']) && size(variables.names) == size(variables.names.distinct())"
	}
	return policy{
		name: PolicyProdPipelines,
		description: "In prod namespaces, PipelineRuns (and TaskRuns not owned by one) carry no inline pipelineSpec/taskSpec and reference a pipeline a cluster admin trusts: " +
			"the bundles resolver with a bundle in modelguard.dev/trusted-bundles, or the git resolver with url@commit in modelguard.dev/trusted-git.",
		rules:      []admissionregistrationv1.NamedRuleWithOperations{rules(createUpdate, tektonGroup, v1, "pipelineruns", "taskruns")},
		namespaces: guarded(true),
		conditions: []admissionregistrationv1.MatchCondition{notGuardrailsAdmin, specChanged},
		variables: []admissionregistrationv1.Variable{
			variable("isRun", "request.resource.resource == 'pipelineruns'"),
			variable("spec", "object.?spec.orValue({})"),
			variable("inline", "variables.isRun ? has(variables.spec.pipelineSpec) : has(variables.spec.taskSpec)"),
			variable("ofPipelineRun", "!variables.isRun && object.metadata.?ownerReferences.orValue([]).exists(o, o.kind == 'PipelineRun' && o.apiVersion.startsWith('tekton.dev/'))"),
			variable("ref", "variables.isRun ? variables.spec.?pipelineRef.orValue({}) : variables.spec.?taskRef.orValue({})"),
			variable("resolver", "variables.ref.?resolver.orValue('')"),
			variable("params", "variables.ref.?params.orValue([])"),
			variable("names", "variables.params.map(p, p.?name.orValue(''))"),
			variable("bundles", annList(TrustedBundlesAnnotation)),
			variable("commits", annList(TrustedGitAnnotation)),
			variable("trustedBundle", "variables.resolver == 'bundles' && "+onlyParams("bundle", "name", "kind")+
				" && "+param("bundle")+".exists(p, "+str("p.value")+" && p.value.matches('@sha256:[0-9a-f]{64}$') && p.value in variables.bundles)"),
			variable("trustedGit", "variables.resolver == 'git' && "+onlyParams("url", "revision", "pathInRepo")+
				" && "+param("url")+".exists(u, "+param("revision")+".exists(r, "+str("u.value")+" && "+str("r.value")+
				" && r.value.matches('^[0-9a-f]{40}$') && (u.value + '@' + r.value) in variables.commits))"),
		},
		validations: []admissionregistrationv1.Validation{
			must("variables.ofPipelineRun || !variables.inline",
				"request.kind.kind + ' ' + "+objName+" + ' carries an inline ' + (variables.isRun ? 'pipelineSpec' : 'taskSpec') + '; in a prod namespace only pipelines a cluster admin trusts run (annotations "+TrustedBundlesAnnotation+", "+TrustedGitAnnotation+"; policy "+PolicyProdPipelines+")'"),
			must("variables.ofPipelineRun || variables.trustedBundle || variables.trustedGit",
				"request.kind.kind + ' ' + "+objName+" + ' references ' + (variables.isRun ? 'a pipeline' : 'a task') + ' a cluster admin does not trust in prod: use the bundles resolver with a bundle@sha256 digest from annotation "+TrustedBundlesAnnotation+
					", or the git resolver with url and a 40-hex revision from annotation "+TrustedGitAnnotation+" (policy "+PolicyProdPipelines+")'"),
		},
	}
}

// saTokensPolicy: a Secret of type service-account-token makes Kubernetes
// mint a long-lived token for the ServiceAccount it names, which is
// minting tokens by another door.
func saTokensPolicy() policy {
	return policy{
		name:        PolicySATokens,
		description: "In guarded namespaces, nobody but cluster admins creates Secrets of type kubernetes.io/service-account-token (Kubernetes fills them with a token of any ServiceAccount they name).",
		rules:       []admissionregistrationv1.NamedRuleWithOperations{rules(createUpdate, coreGroup, v1, "secrets")},
		namespaces:  guarded(false),
		conditions:  []admissionregistrationv1.MatchCondition{notGuardrailsAdmin},
		validations: []admissionregistrationv1.Validation{
			must("object.?type.orValue('') != 'kubernetes.io/service-account-token'",
				"'Secret ' + "+objName+" + ' is of type kubernetes.io/service-account-token, which makes Kubernetes mint a token for the ServiceAccount it names; only cluster admins create them in a guarded namespace (policy "+PolicySATokens+")'"),
		},
	}
}

// personaBindingsPolicy holds every RoleBinding that is not a cluster
// admin's to the admin's allow-lists, whoever writes it: the guard
// applies the same limits in code, so this matters when something else
// writes with the guard's rights (a bug, or a Task's ServiceAccount
// running other steps).
func personaBindingsPolicy() policy {
	return policy{
		name: PolicyPersonaBindings,
		description: "In guarded namespaces, RoleBindings not made by cluster admins bind only the persona ClusterRole of the namespace's profile, " +
			"to the groups and users in modelguard.dev/allow-<persona>.",
		rules:      []admissionregistrationv1.NamedRuleWithOperations{rules(createUpdate, rbacGroup, v1, "rolebindings")},
		namespaces: guarded(false),
		conditions: []admissionregistrationv1.MatchCondition{notGuardrailsAdmin},
		variables: []admissionregistrationv1.Variable{
			variable("profile", "namespaceObject.metadata.?labels[?'"+NamespaceProfileLabel+"'].orValue('')"),
			variable("persona", "['"+string(DataScientist)+"', '"+string(MLEngineer)+"', '"+string(Operator)+"'].filter(p, object.roleRef.kind == 'ClusterRole' && object.roleRef.name == '"+namePrefix+"' + p + '-' + variables.profile)"),
			variable("allowed", "size(variables.persona) == 1 ? namespaceObject.metadata.?annotations[?('"+AllowSubjectsAnnotation("")+"' + variables.persona[0])].orValue('').split(',').map(s, s.trim()).filter(s, s != '') : []"),
			variable("badSubjects", "object.?subjects.orValue([]).filter(s, !(((s.kind == 'Group' ? 'group:' : (s.kind == 'User' ? 'user:' : s.kind + ':')) + s.name) in variables.allowed))"),
		},
		validations: []admissionregistrationv1.Validation{
			must("size(variables.persona) == 1",
				"'RoleBinding ' + "+objName+" + ' binds ' + object.roleRef.kind + ' ' + object.roleRef.name + '; in a guarded ' + variables.profile + ' namespace only cluster admins bind anything but the persona roles "+namePrefix+"<persona>-' + variables.profile + ' (policy "+PolicyPersonaBindings+")'"),
			must("size(variables.persona) != 1 || size(variables.badSubjects) == 0",
				"'RoleBinding ' + "+objName+" + ' gives ' + variables.persona[0] + ' to ' + variables.badSubjects[0].kind + ' ' + variables.badSubjects[0].name + ', who is not in annotation "+AllowSubjectsAnnotation("")+"' + variables.persona[0] + ' of the namespace (policy "+PolicyPersonaBindings+")'"),
		},
	}
}
