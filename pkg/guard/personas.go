package guard

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The persona roles are ClusterRoles installed once with the controller
// (config/) and bound per namespace by RoleBindings. That is what makes
// the controller safe: it needs `bind` on exactly these nine roles and
// nothing else, never `escalate`, and it never has to hold the permissions
// it hands out. They are built here, from explicit rules (no wildcards),
// and config/ is checked against this code by a test.

var (
	read  = []string{"get", "list", "watch"}
	write = []string{"create", "update", "patch", "delete"}
)

// API groups and resources the personas work with.
const (
	coreGroup    = ""
	appsGroup    = "apps"
	batchGroup   = "batch"
	kserveGroup  = "serving.kserve.io"
	kubeflow     = "kubeflow.org"
	routeGroup   = "route.openshift.io"
	tektonGroup  = "tekton.dev"
	netGroup     = "networking.k8s.io"
	rbacGroup    = "rbac.authorization.k8s.io"
	monitorGroup = "monitoring.coreos.com"
)

// Everyone in the namespace may see how it runs, including the guard's own
// objects (so they can tell why traffic is blocked), but no Secrets.
var everyoneReads = []rbacv1.PolicyRule{
	rule(read, coreGroup, "pods", "pods/log", "services", "endpoints", "configmaps", "events", "persistentvolumeclaims", "serviceaccounts", "resourcequotas", "limitranges"),
	rule(read, appsGroup, "deployments", "replicasets", "statefulsets"),
	rule(read, batchGroup, "jobs", "cronjobs"),
	rule(read, kserveGroup, "inferenceservices", "servingruntimes", "inferencegraphs", "trainedmodels"),
	rule(read, kubeflow, "notebooks"),
	rule(read, routeGroup, "routes"),
	// PipelineRuns and TaskRuns carry Chains' signatures and provenance
	// references in their annotations and results.
	rule(read, tektonGroup, "pipelineruns", "taskruns", "customruns", "pipelines", "tasks"),
	rule(read, netGroup, "networkpolicies"),
	rule(read, monitorGroup, "servicemonitors", "podmonitors"),
}

// PersonaRules returns the rules of a persona in a profile.
func PersonaRules(p Persona, prof Profile) []rbacv1.PolicyRule {
	rules := append([]rbacv1.PolicyRule(nil), everyoneReads...)
	add := func(r ...rbacv1.PolicyRule) { rules = append(rules, r...) }
	switch p {
	case DataScientist:
		// Experiments happen in dev: workbenches, models, their config.
		// In staging and prod a data scientist looks but does not touch.
		// No pods/exec: exec reads whatever the pod can, its Secrets and
		// its ServiceAccount token (see exec below).
		if prof == Dev {
			add(rule(write, kubeflow, "notebooks"),
				rule(write, kserveGroup, "inferenceservices", "servingruntimes"),
				rule(write, coreGroup, "configmaps", "persistentvolumeclaims"),
				rule([]string{"create"}, coreGroup, "pods/portforward"))
		}
	case MLEngineer:
		// ML engineers run the pipelines that build, scan and deploy, and
		// promote models through staging. Prod changes go through pipelines.
		add(rule([]string{"create", "delete"}, tektonGroup, "pipelineruns"))
		if prof != Prod {
			add(rule(write, tektonGroup, "pipelines", "tasks"),
				rule(write, kserveGroup, "inferenceservices", "servingruntimes"),
				rule(write, coreGroup, "configmaps"),
				rule([]string{"create"}, coreGroup, "pods/portforward"))
		}
	case Operator:
		// Admin-like for workloads, but never for access control, network
		// policy, quota or limits: those belong to the guard.
		add(rule(read, coreGroup, "secrets"),
			rule(write, coreGroup, "secrets", "configmaps", "services", "persistentvolumeclaims", "serviceaccounts"),
			rule([]string{"delete"}, coreGroup, "pods"),
			rule(write, appsGroup, "deployments", "statefulsets"),
			rule([]string{"update", "patch"}, appsGroup, "deployments/scale", "statefulsets/scale"),
			rule(write, batchGroup, "jobs", "cronjobs"),
			rule(write, kserveGroup, "inferenceservices", "servingruntimes", "inferencegraphs"),
			rule(write, kubeflow, "notebooks"),
			rule(write, routeGroup, "routes"),
			rule(write, tektonGroup, "pipelineruns", "pipelines", "tasks"),
			rule(write, monitorGroup, "servicemonitors", "podmonitors"),
			rule(read, rbacGroup, "roles", "rolebindings"))
		// exec belongs with those who may read the namespace's Secrets
		// anyway: a shell in a pod reads the Secrets it mounts and its
		// ServiceAccount token, and an operator's pods may mount any.
		// Never in prod, where changes go through pipelines.
		if prof != Prod {
			add(rule([]string{"create"}, coreGroup, "pods/exec", "pods/portforward"))
		}
	}
	return rules
}

func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

// PersonaRoleName is the ClusterRole of a persona in a profile.
func PersonaRoleName(p Persona, prof Profile) string {
	return "modelguard-" + string(p) + "-" + string(prof)
}

// PersonaClusterRoles builds all nine persona roles, in a stable order.
func PersonaClusterRoles() []*rbacv1.ClusterRole {
	var out []*rbacv1.ClusterRole
	for _, prof := range Profiles {
		for _, p := range Personas {
			out = append(out, &rbacv1.ClusterRole{
				TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
				ObjectMeta: metav1.ObjectMeta{
					Name:   PersonaRoleName(p, prof),
					Labels: map[string]string{ManagedByLabel: ManagedBy, PersonaLabel: string(p), ProfileLabel: string(prof)},
				},
				Rules: PersonaRules(p, prof),
			})
		}
	}
	return out
}

// roleBindings binds each persona that has subjects to its role for the
// Spec's profile. Personas without subjects get no binding.
func roleBindings(s *Spec) []*rbacv1.RoleBinding {
	var out []*rbacv1.RoleBinding
	for _, p := range Personas {
		subj := s.Subjects[p]
		if len(subj.Groups)+len(subj.Users) == 0 {
			continue
		}
		rb := &rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: objectMeta(s, "modelguard-"+string(p)),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: PersonaRoleName(p, s.Profile)},
		}
		rb.Labels[PersonaLabel] = string(p)
		for _, g := range subj.Groups {
			rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacGroup, Name: g})
		}
		for _, u := range subj.Users {
			rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacGroup, Name: u})
		}
		out = append(out, rb)
	}
	return out
}
