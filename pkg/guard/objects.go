package guard

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Labels that mark what the guard owns.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "modelguard"
	PersonaLabel   = "modelguard.dev/persona"
	ProfileLabel   = "modelguard.dev/profile"
	// GuardLabel marks every namespaced object a guard applied, so objects
	// no longer wanted (an ingress source removed) can be found and pruned.
	GuardLabel = "modelguard.dev/guard"
)

// FieldManager is the one server-side-apply manager the guard uses.
const FieldManager = "modelguard"

func objectMeta(s *Spec, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: s.Namespace,
		Labels:    map[string]string{ManagedByLabel: ManagedBy, GuardLabel: "true", ProfileLabel: string(s.Profile)},
	}
}

// Kinds the guard manages inside a namespace, in apply order: policy
// first, so a namespace is never open while access is being granted.
var namespacedKinds = []schema.GroupVersionResource{
	{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	{Version: "v1", Resource: "resourcequotas"},
	{Version: "v1", Resource: "limitranges"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
}

var namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// Object is one desired object with the resource it lives in.
type Object struct {
	GVR schema.GroupVersionResource
	Obj *unstructured.Unstructured
}

// Ref names an object for reports: "NetworkPolicy/modelguard-default-deny".
func (o Object) Ref() string { return o.Obj.GetKind() + "/" + o.Obj.GetName() }

// Build returns every object a Spec asks for, in apply order. The Spec
// must have passed Validate. The Namespace object carries only the labels
// the guard sets; server-side apply leaves the rest of it alone.
func Build(s *Spec) ([]Object, error) {
	var typed []runtime.Object
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Namespace, Labels: namespaceLabels(s)},
	}
	typed = append(typed, ns)
	for _, np := range networkPolicies(s) {
		typed = append(typed, np)
	}
	typed = append(typed, resourceQuota(s), limitRange(s))
	for _, rb := range roleBindings(s) {
		typed = append(typed, rb)
	}
	out := make([]Object, 0, len(typed))
	for _, t := range typed {
		u, err := toUnstructured(t)
		if err != nil {
			return nil, err
		}
		out = append(out, Object{GVR: gvrOf(u), Obj: u})
	}
	return out, nil
}

func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", obj, err)
	}
	u := &unstructured.Unstructured{Object: m}
	// Builders never set these; dropping the converter's zero values keeps
	// apply requests and golden files to what the guard actually decides.
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	if spec, ok := u.Object["spec"].(map[string]any); ok && len(spec) == 0 {
		delete(u.Object, "spec")
	}
	return u, nil
}

func gvrOf(u *unstructured.Unstructured) schema.GroupVersionResource {
	switch u.GetKind() {
	case "Namespace":
		return namespaceGVR
	case "NetworkPolicy":
		return namespacedKinds[0]
	case "ResourceQuota":
		return namespacedKinds[1]
	case "LimitRange":
		return namespacedKinds[2]
	case "RoleBinding":
		return namespacedKinds[3]
	}
	return schema.GroupVersionResource{}
}
