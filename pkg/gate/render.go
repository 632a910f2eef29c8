package gate

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Central evaluates built-in workload kinds only: an InferenceService (a
// CRD) comes back in ignoredObjectRefs, unchecked. So the gate renders
// each InferenceService into the Deployment KServe would create for it in
// RawDeployment mode — the predictor's pod: its own containers, or its
// ServingRuntime's with the model's settings merged in, plus the modelcar
// container KServe's pod webhook injects for an oci:// storageUri — and
// Central checks that. What cannot be rendered (a runtime that is not
// among the manifests) is named, and the gate does not pass it.

type inferenceService struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		Predictor predictorSpec `json:"predictor"`
	} `json:"spec"`
}

// predictorSpec is KServe's PredictorSpec: pod fields inline, and a model.
type predictorSpec struct {
	corev1.PodSpec
	Model *modelSpec `json:"model,omitempty"`
}

type modelSpec struct {
	corev1.Container
	ModelFormat struct {
		Name string `json:"name"`
	} `json:"modelFormat"`
	Runtime    string `json:"runtime,omitempty"`
	StorageURI string `json:"storageUri,omitempty"`
}

type servingRuntime struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		SupportedModelFormats []struct {
			Name       string `json:"name"`
			AutoSelect *bool  `json:"autoSelect,omitempty"`
		} `json:"supportedModelFormats"`
		corev1.PodSpec
	} `json:"spec"`
}

// rendering is what renderInferenceServices made of the manifests.
type rendering struct {
	yaml       []string          // the rendered Deployments
	covered    map[string]bool   // Kind/name of CRD objects checked through a rendering
	renderedAs map[string]string // rendered Deployment/name → InferenceService/name
	unchecked  []string          // InferenceService/name: why it could not be rendered
}

func renderInferenceServices(set *manifestSet, namespace string) rendering {
	out := rendering{covered: map[string]bool{}, renderedAs: map[string]string{}}
	runtimes := map[string]servingRuntime{}
	for _, d := range set.docs {
		if kindOf(d.id) == "ServingRuntime" {
			var sr servingRuntime
			if decodeObject(d.body, &sr) == nil {
				runtimes[sr.Metadata.Name] = sr
			}
		}
	}
	for _, d := range set.docs {
		if kindOf(d.id) != "InferenceService" {
			continue
		}
		var isvc inferenceService
		if err := decodeObject(d.body, &isvc); err != nil {
			out.unchecked = append(out.unchecked, fmt.Sprintf("%s (%s: %v)", d.id, d.source, firstLine(err.Error())))
			continue
		}
		pod, runtime, err := predictorPod(isvc.Spec.Predictor, runtimes)
		if err != nil {
			out.unchecked = append(out.unchecked, fmt.Sprintf("%s (%v)", d.id, err))
			continue
		}
		dep := predictorDeployment(isvc, pod, namespace)
		b, err := yaml.Marshal(dep)
		if err != nil {
			out.unchecked = append(out.unchecked, fmt.Sprintf("%s (%v)", d.id, err))
			continue
		}
		out.yaml = append(out.yaml, string(b))
		out.covered[d.id] = true
		out.renderedAs["Deployment/"+dep.Name] = d.id
		if runtime != "" {
			out.covered["ServingRuntime/"+runtime] = true
		}
	}
	return out
}

// predictorPod is the predictor's pod as KServe builds it. It returns the
// ServingRuntime used, if any.
func predictorPod(p predictorSpec, runtimes map[string]servingRuntime) (corev1.PodSpec, string, error) {
	pod := *p.PodSpec.DeepCopy()
	if len(pod.Containers) > 0 { // a custom predictor: its containers run as given
		return pod, "", nil
	}
	m := p.Model
	if m == nil {
		return pod, "", fmt.Errorf("the predictor has neither containers nor a model")
	}
	sr, ok := runtimes[m.Runtime]
	if m.Runtime == "" {
		sr, ok = autoSelect(runtimes, m.ModelFormat.Name)
	}
	if !ok || len(sr.Spec.Containers) == 0 {
		return pod, "", fmt.Errorf("its ServingRuntime %q is not among the manifests, so the pod KServe would run cannot be checked; add the ServingRuntime to them", orAny(m.Runtime, m.ModelFormat.Name))
	}
	pod.Containers = nil
	for i, c := range sr.Spec.Containers {
		if i == 0 {
			c = mergeModel(c, m.Container)
		}
		pod.Containers = append(pod.Containers, c)
	}
	pod.Volumes = append(pod.Volumes, sr.Spec.Volumes...)
	pod.ImagePullSecrets = append(pod.ImagePullSecrets, sr.Spec.ImagePullSecrets...)
	pod.Tolerations = append(pod.Tolerations, sr.Spec.Tolerations...)
	if pod.NodeSelector == nil {
		pod.NodeSelector = sr.Spec.NodeSelector
	}
	pod.HostNetwork = pod.HostNetwork || sr.Spec.HostNetwork
	pod.HostPID = pod.HostPID || sr.Spec.HostPID
	pod.HostIPC = pod.HostIPC || sr.Spec.HostIPC
	if ref, ok := strings.CutPrefix(m.StorageURI, "oci://"); ok {
		// KServe's pod webhook adds the modelcar: the model image as a
		// container sharing the pod's process namespace.
		pod.ShareProcessNamespace = ptrTrue()
		pod.Containers = append(pod.Containers, corev1.Container{Name: "modelcar", Image: ref,
			SecurityContext: pod.Containers[0].SecurityContext})
	}
	return pod, sr.Metadata.Name, nil
}

// mergeModel applies the model's container settings over the runtime's
// first container, as KServe does: the model's image, resources and
// security context win when set; env and args add to the runtime's.
func mergeModel(c corev1.Container, m corev1.Container) corev1.Container {
	c.Name = "kserve-container"
	if m.Image != "" {
		c.Image = m.Image
	}
	if len(m.Resources.Limits) > 0 || len(m.Resources.Requests) > 0 {
		c.Resources = m.Resources
	}
	if m.SecurityContext != nil {
		c.SecurityContext = m.SecurityContext
	}
	c.Env = append(c.Env, m.Env...)
	c.Args = append(c.Args, m.Args...)
	c.VolumeMounts = append(c.VolumeMounts, m.VolumeMounts...)
	return c
}

func autoSelect(runtimes map[string]servingRuntime, format string) (servingRuntime, bool) {
	var names []string
	for n, sr := range runtimes {
		for _, f := range sr.Spec.SupportedModelFormats {
			if strings.EqualFold(f.Name, format) && f.AutoSelect != nil && *f.AutoSelect {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return servingRuntime{}, false
	}
	sort.Strings(names) // KServe prefers by priority; with none given, any is a guess — take one stably
	return runtimes[names[0]], true
}

func predictorDeployment(isvc inferenceService, pod corev1.PodSpec, namespace string) *appsv1.Deployment {
	ns := isvc.Metadata.Namespace
	if ns == "" {
		ns = namespace
	}
	labels := map[string]string{"serving.kserve.io/inferenceservice": isvc.Metadata.Name, "component": "predictor",
		"app": "isvc." + isvc.Metadata.Name + "-predictor"}
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: isvc.Metadata.Name + "-predictor", Namespace: ns, Labels: labels,
			Annotations: map[string]string{"modelguard.dev/rendered-from": "InferenceService/" + isvc.Metadata.Name}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
}

func decodeObject(body map[string]any, v any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func kindOf(id string) string { k, _, _ := strings.Cut(id, "/"); return k }

func orAny(runtime, format string) string {
	if runtime != "" {
		return runtime
	}
	return "for model format " + format
}

func ptrTrue() *bool { t := true; return &t }
