package guard

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// gpuResource is the extended resource NVIDIA's device plugin exposes.
const gpuResource corev1.ResourceName = "nvidia.com/gpu"

// resourceQuota caps what the namespace may request, GPUs included.
func resourceQuota(s *Spec) *corev1.ResourceQuota {
	hard := corev1.ResourceList{}
	for key, value := range s.quota() {
		for _, name := range QuotaKeys[key] {
			hard[corev1.ResourceName(name)] = resource.MustParse(value) // validated by Spec.Validate
		}
	}
	return &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: objectMeta(s, "modelguard-quota"),
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
	}
}

// limitRange gives containers CPU and memory defaults (so the quota's
// limits.* keys do not reject pods that set none) and caps GPUs per
// container. The GPU default is an explicit zero: the API server fills a
// missing default with the max, which would hand every container in the
// namespace a GPU and leave pods unschedulable on nodes without one.
func limitRange(s *Spec) *corev1.LimitRange {
	l := s.limits()
	item := corev1.LimitRangeItem{
		Type: corev1.LimitTypeContainer,
		Default: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(l["default-cpu"]),
			corev1.ResourceMemory: resource.MustParse(l["default-memory"]),
			gpuResource:           resource.MustParse("0"),
		},
		DefaultRequest: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(l["default-request-cpu"]),
			corev1.ResourceMemory: resource.MustParse(l["default-request-memory"]),
			gpuResource:           resource.MustParse("0"),
		},
		Max: corev1.ResourceList{gpuResource: resource.MustParse(l["max-gpu"])},
	}
	return &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
		ObjectMeta: objectMeta(s, "modelguard-limits"),
		Spec:       corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}},
	}
}

// namespaceLabels are the Pod Security Admission labels, versions pinned.
// Audit and warn follow enforce so the three never disagree.
func namespaceLabels(s *Spec) map[string]string {
	out := map[string]string{}
	for _, mode := range []string{"enforce", "audit", "warn"} {
		out["pod-security.kubernetes.io/"+mode] = s.PodSecurity
		out["pod-security.kubernetes.io/"+mode+"-version"] = PodSecurityVersion
	}
	return out
}
