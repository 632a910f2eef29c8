package guard

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// Mounting a Secret is reading it. So the pods and pod templates of
// someone who may not read the namespace's Secrets may use only the
// Secrets a cluster admin allows to everyone (AllowSecretsAnnotation), and
// run only as the ServiceAccounts the admin allows
// (AllowServiceAccountsAnnotation; "default" always): a pod's ServiceAccount
// token is that ServiceAccount's power. A pipeline's pods are held to the
// allow-list whoever created them, since what runs in them is chosen by
// whoever started the PipelineRun.

// annList is CEL: the comma-separated list in an annotation of the
// request's namespace, the way ReadLimits reads it.
func annList(key string) string {
	return "namespaceObject.metadata.?annotations[?'" + key + "'].orValue('').split(',').map(s, s.trim()).filter(s, s != '')"
}

// objName is CEL: the object's name, or its generateName prefix.
const objName = "(object.metadata.?name.orValue('') != '' ? object.metadata.name : object.metadata.?generateName.orValue('') + '*')"

// secretRefs is CEL over variables.containers and variables.volumes: every
// Secret they name (env, envFrom, secret and projected volumes, and
// Tekton workspaces, which have the volume's shape).
const secretRefs = "variables.containers.map(c, " +
	"c.?env.orValue([]).filter(e, has(e.valueFrom) && has(e.valueFrom.secretKeyRef)).map(e, e.valueFrom.secretKeyRef.?name.orValue(''))" +
	" + c.?envFrom.orValue([]).filter(e, has(e.secretRef)).map(e, e.secretRef.?name.orValue(''))).flatten()" +
	" + variables.volumes.map(v, (has(v.secret) ? [v.secret.?secretName.orValue('')] : [])" +
	" + (has(v.projected) ? v.projected.?sources.orValue([]).filter(s, has(s.secret)).map(s, s.secret.?name.orValue('')) : [])).flatten()"

// Containers, volumes and ServiceAccounts of variables.podSpecs.
const (
	podContainers = "variables.podSpecs.map(p, p.?containers.orValue([]) + p.?initContainers.orValue([]) + p.?ephemeralContainers.orValue([])).flatten()"
	podVolumes    = "variables.podSpecs.map(p, p.?volumes.orValue([])).flatten()"
	podAccounts   = "variables.podSpecs.map(p, [p.?serviceAccountName.orValue(''), p.?serviceAccount.orValue('')]).flatten()"
)

// secretsMessage is CEL naming the first Secret outside the allow-list.
func secretsMessage(what, why, policyName string) string {
	return what + " + ' uses Secret ' + variables.badSecrets[0] + ', ' + '" + why + "' + ' (allowed to all: ' + " +
		"(size(variables.allowedSecrets) == 0 ? 'none' : variables.allowedSecrets.join(', ')) + '; annotation " + AllowSecretsAnnotation + ", policy " + policyName + ")'"
}

func workloadSecretsPolicy() policy {
	res := "variables.res"
	pipelineTaskSpecs := func(p string) string {
		return "(" + p + ".?tasks.orValue([]) + " + p + ".?finally.orValue([])).filter(t, has(t.taskSpec)).map(t, t.taskSpec)"
	}
	return policy{
		name: PolicyWorkloadSecrets,
		description: "In guarded namespaces, workloads and pod templates (Deployments and the like, Notebooks, InferenceServices, ServingRuntimes, Tekton Tasks, Pipelines, PipelineRuns, TaskRuns) of someone who may not read the namespace's Secrets use only the Secrets in modelguard.dev/allow-secrets " +
			"and run only as default or a ServiceAccount in modelguard.dev/allow-service-accounts.",
		rules: []admissionregistrationv1.NamedRuleWithOperations{
			rules(createUpdate, appsGroup, v1, "deployments", "replicasets", "statefulsets", "daemonsets"),
			rules(createUpdate, batchGroup, v1, "jobs", "cronjobs"),
			rules(createUpdate, kubeflow, anyVersion, "notebooks"),
			rules(createUpdate, kserveGroup, anyVersion, "inferenceservices", "servingruntimes"),
			rules(createUpdate, tektonGroup, v1, "pipelineruns", "taskruns", "pipelines", "tasks"),
		},
		namespaces: guarded(false),
		conditions: []admissionregistrationv1.MatchCondition{notGuardrailsAdmin, specChanged, {
			Name:       "may-not-read-secrets",
			Expression: "!authorizer.group('').resource('secrets').namespace(request.namespace).check('get').allowed()",
		}},
		variables: []admissionregistrationv1.Variable{
			variable("res", "request.resource.resource"),
			variable("spec", "object.?spec.orValue({})"),
			variable("podSpecs", res+" in ['deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'notebooks'] ? [variables.spec.?template.?spec.orValue({})]"+
				" : "+res+" == 'cronjobs' ? [variables.spec.?jobTemplate.?spec.?template.?spec.orValue({})]"+
				" : "+res+" == 'servingruntimes' ? [variables.spec]"+
				" : "+res+" == 'inferenceservices' ? ['predictor', 'transformer', 'explainer'].filter(c, c in variables.spec).map(c, variables.spec[c])"+
				" : []"),
			// An InferenceService component names its model server as a
			// field (model, sklearn, triton, ...) shaped like a container.
			variable("componentContainers", res+" == 'inferenceservices' ? variables.podSpecs.map(p, p.map(k, p[k]).filter(v, type(v) == map && (has(v.env) || has(v.envFrom)))).flatten() : []"),
			variable("taskSpecs", res+" == 'tasks' ? [variables.spec]"+
				" : "+res+" == 'pipelines' ? "+pipelineTaskSpecs("variables.spec")+
				" : "+res+" == 'pipelineruns' ? "+pipelineTaskSpecs("variables.spec.?pipelineSpec.orValue({})")+
				" : "+res+" == 'taskruns' && has(variables.spec.taskSpec) ? [variables.spec.taskSpec] : []"),
			variable("podTemplates", res+" == 'pipelineruns' ? (variables.spec.?taskRunTemplate.?podTemplate.hasValue() ? [variables.spec.taskRunTemplate.podTemplate] : [])"+
				" + variables.spec.?taskRunSpecs.orValue([]).filter(s, has(s.podTemplate)).map(s, s.podTemplate)"+
				" : "+res+" == 'taskruns' && has(variables.spec.podTemplate) ? [variables.spec.podTemplate] : []"),
			variable("containers", podContainers+" + variables.componentContainers"+
				" + variables.taskSpecs.map(t, t.?steps.orValue([]) + t.?sidecars.orValue([]) + (has(t.stepTemplate) ? [t.stepTemplate] : [])).flatten()"+
				" + variables.podTemplates"),
			variable("volumes", podVolumes+
				" + variables.taskSpecs.map(t, t.?volumes.orValue([])).flatten()"+
				" + variables.podTemplates.map(t, t.?volumes.orValue([])).flatten()"+
				" + ("+res+" in ['pipelineruns', 'taskruns'] ? variables.spec.?workspaces.orValue([]) : [])"),
			variable("serviceAccounts", "("+podAccounts+
				" + ("+res+" == 'pipelineruns' ? [variables.spec.?taskRunTemplate.?serviceAccountName.orValue('')] + variables.spec.?taskRunSpecs.orValue([]).map(s, s.?serviceAccountName.orValue(''))"+
				" : "+res+" == 'taskruns' ? [variables.spec.?serviceAccountName.orValue('')] : [])).filter(n, n != '')"),
			variable("allowedSecrets", annList(AllowSecretsAnnotation)),
			variable("badSecrets", "("+secretRefs+").filter(n, !(n in variables.allowedSecrets))"),
			variable("allowedAccounts", "['default'] + "+annList(AllowServiceAccountsAnnotation)),
			variable("badAccounts", "variables.serviceAccounts.filter(n, !(n in variables.allowedAccounts))"),
		},
		validations: []admissionregistrationv1.Validation{
			must("size(variables.badSecrets) == 0", secretsMessage("request.kind.kind + ' ' + "+objName, "which only those who may read the namespace\\'s Secrets may use", PolicyWorkloadSecrets)),
			must("size(variables.badAccounts) == 0",
				"request.kind.kind + ' ' + "+objName+" + ' runs as ServiceAccount ' + variables.badAccounts[0] + '; its token is that ServiceAccount\\'s power, so only those who may read the namespace\\'s Secrets choose it (allowed to all: ' + variables.allowedAccounts.join(', ') + '; annotation "+AllowServiceAccountsAnnotation+", policy "+PolicyWorkloadSecrets+")'"),
		},
	}
}

// pipelinePodsPolicy holds every pod of a TaskRun to the allow-list: a
// Task fetched by a resolver (bundle, git) is seen first in its pod.
func pipelinePodsPolicy() policy {
	return policy{
		name:        PolicyPipelinePods,
		description: "In guarded namespaces, a TaskRun's pod (label tekton.dev/taskRun) uses only the Secrets in modelguard.dev/allow-secrets, whoever creates it: the steps come from whoever started the PipelineRun.",
		rules:       []admissionregistrationv1.NamedRuleWithOperations{rules(createOnly, coreGroup, v1, "pods")},
		namespaces:  guarded(false),
		conditions: []admissionregistrationv1.MatchCondition{{
			Name: "taskrun-pod", Expression: "object.metadata.?labels[?'tekton.dev/taskRun'].hasValue()",
		}},
		variables: []admissionregistrationv1.Variable{
			variable("podSpecs", "[object.spec]"),
			variable("containers", podContainers),
			variable("volumes", podVolumes),
			variable("allowedSecrets", annList(AllowSecretsAnnotation)),
			variable("badSecrets", "("+secretRefs+").filter(n, !(n in variables.allowedSecrets))"),
		},
		validations: []admissionregistrationv1.Validation{
			must("size(variables.badSecrets) == 0",
				secretsMessage("'pod of TaskRun ' + object.metadata.labels['tekton.dev/taskRun']", "and a pipeline\\'s pods may use only the Secrets a cluster admin allows to all", PolicyPipelinePods)),
		},
	}
}
