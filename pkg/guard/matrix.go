package guard

// The access matrix states what each persona is meant to be able to do,
// written down independently of the rules in personas.go. Verify asks the
// API server each question, so a rule that grants too much or too little
// shows up as a mismatch instead of passing by construction.

func allow(dev, staging, prod bool) map[Profile]bool {
	return map[Profile]bool{Dev: dev, Staging: staging, Prod: prod}
}

var (
	always  = allow(true, true, true)
	never   = allow(false, false, false)
	devOnly = allow(true, false, false)
	notProd = allow(true, true, false)
)

func q(verb, group, resource, sub string) Access {
	return Access{Verb: verb, Group: group, Resource: resource, Subresource: sub}
}

// What no persona may ever do in a guarded namespace: change who has
// access, the network policy, the quota or limits; mint tokens; escalate.
var forbiddenToAll = []Expectation{
	{q("create", rbacGroup, "rolebindings", ""), never},
	{q("update", rbacGroup, "roles", ""), never},
	{q("bind", rbacGroup, "clusterroles", ""), never},
	{q("escalate", rbacGroup, "roles", ""), never},
	{q("impersonate", coreGroup, "users", ""), never},
	{q("impersonate", coreGroup, "groups", ""), never},
	{q("delete", netGroup, "networkpolicies", ""), never},
	{q("create", netGroup, "networkpolicies", ""), never},
	{q("patch", coreGroup, "resourcequotas", ""), never},
	{q("delete", coreGroup, "limitranges", ""), never},
	{q("create", coreGroup, "serviceaccounts", "token"), never},
}

// What every persona may always do: see how the namespace runs.
var allowedToAll = []Expectation{
	{q("get", coreGroup, "pods", "log"), always},
	{q("list", coreGroup, "pods", ""), always},
	{q("get", tektonGroup, "taskruns", ""), always}, // Chains results
	{q("list", netGroup, "networkpolicies", ""), always},
}

var personaMatrix = map[Persona][]Expectation{
	DataScientist: {
		{q("create", kserveGroup, "inferenceservices", ""), devOnly},
		{q("create", kserveGroup, "servingruntimes", ""), devOnly},
		{q("create", kubeflow, "notebooks", ""), devOnly},
		{q("create", coreGroup, "configmaps", ""), devOnly},
		{q("create", coreGroup, "pods", "exec"), never},
		{q("get", coreGroup, "secrets", ""), never},
		{q("list", coreGroup, "secrets", ""), never},
		{q("create", tektonGroup, "pipelineruns", ""), never},
		{q("create", appsGroup, "deployments", ""), never},
		{q("delete", coreGroup, "pods", ""), never},
	},
	MLEngineer: {
		{q("create", kserveGroup, "inferenceservices", ""), notProd},
		{q("create", kserveGroup, "servingruntimes", ""), notProd},
		{q("create", tektonGroup, "pipelineruns", ""), always},
		{q("create", coreGroup, "configmaps", ""), notProd},
		{q("create", coreGroup, "pods", "exec"), never},
		{q("get", coreGroup, "secrets", ""), never},
		{q("list", coreGroup, "secrets", ""), never},
		{q("create", kubeflow, "notebooks", ""), never},
		{q("create", appsGroup, "deployments", ""), never},
		{q("delete", coreGroup, "pods", ""), never},
	},
	Operator: {
		{q("create", kserveGroup, "inferenceservices", ""), always},
		{q("create", tektonGroup, "pipelineruns", ""), always},
		{q("create", appsGroup, "deployments", ""), always},
		{q("get", coreGroup, "secrets", ""), always},
		{q("create", coreGroup, "secrets", ""), always},
		{q("delete", coreGroup, "pods", ""), always},
		{q("create", coreGroup, "pods", "exec"), notProd},
		{q("get", rbacGroup, "rolebindings", ""), always},
		{q("update", coreGroup, "namespaces", ""), never},
		{q("patch", netGroup, "networkpolicies", ""), never},
	},
}

// Matrix returns the questions asked about a persona, in a stable order.
func Matrix(p Persona) []Expectation {
	out := append([]Expectation(nil), personaMatrix[p]...)
	out = append(out, allowedToAll...)
	return append(out, forbiddenToAll...)
}
