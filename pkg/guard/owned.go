package guard

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// The guard owns an object by its name, not by a label anyone who may
// write the object could copy: Owns says whether a builder can produce
// that name. Prune deletes only what the guard owns (and labelled), so
// labelling an admin's NetworkPolicy modelguard.dev/guard=true does not
// get it deleted.

const namePrefix = "modelguard-"

// ownedNames are the fixed names the builders give, per resource.
var ownedNames = map[string][]string{
	"networkpolicies": {
		"default-deny", "allow-same-namespace", "allow-dns", "allow-egress",
		"allow-from-" + FromOpenShiftRouter, "allow-from-" + FromMonitoring, "allow-from-" + FromKnative, "allow-from-" + FromIstio,
	},
	"resourcequotas": {"quota"},
	"limitranges":    {"limits"},
	"rolebindings":   {string(DataScientist), string(MLEngineer), string(Operator)},
}

// nsIngressPrefix names the policy letting in one namespace.
const nsIngressPrefix = "allow-from-ns-"

// foreignKinds are the kinds in which an object the guard did not make is
// drift: each can open what the guard closes (traffic, access).
var foreignKinds = map[string]bool{"networkpolicies": true, "rolebindings": true}

// Owns reports whether name, in resource (e.g. "networkpolicies"), is a
// name the guard gives.
func Owns(resource, name string) bool {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return false
	}
	if contains(ownedNames[resource], rest) {
		return true
	}
	ns, ok := strings.CutPrefix(rest, nsIngressPrefix)
	return ok && resource == "networkpolicies" && len(validation.IsDNS1123Label(ns)) == 0
}
