package deploy

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
)

// Where a model is deployed.
const (
	// TargetAuto is KServe where the cluster serves InferenceServices, a
	// plain Deployment elsewhere.
	TargetAuto = "auto"
	// TargetKServe is an InferenceService (RawDeployment) whose predictor
	// runs the named ServingRuntime on the modelcar (storageUri oci://).
	TargetKServe = "kserve"
	// TargetDeployment is a Deployment of modelguard's demo server.
	TargetDeployment = "deployment"
)

// InferenceServiceGVR is KServe's InferenceService.
var InferenceServiceGVR = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

// KServe's labels and annotations this package reads or sets.
const (
	LabelInferenceService = "serving.kserve.io/inferenceservice"
	annotationMode        = "serving.kserve.io/deploymentMode"
	// modelcarContainer is the sidecar KServe's pod webhook injects for an
	// oci:// storageUri.
	modelcarContainer = "modelcar"
	// modelFormat is what the ServingRuntime for modelguard serve declares
	// it supports (see tasks/model-deploy/0.1/samples/servingruntime.yaml).
	modelFormat = "modelguard"
)

// validateKServe checks what an InferenceService needs besides the
// common fields.
func (s Spec) validateKServe() error {
	if len(validation.IsDNS1123Subdomain(s.Runtime)) > 0 {
		return fmt.Errorf("runtime %q: want the name of a ServingRuntime in the namespace", s.Runtime)
	}
	return nil
}

// InferenceService renders s as a KServe InferenceService in RawDeployment
// mode: the predictor runs ServingRuntime s.Runtime on storageUri
// oci://<model image by digest>, with s.Replicas fixed (min = max), as a
// non-root, seccomp-confined pod without an API token.
func InferenceService(s Spec) *unstructured.Unstructured {
	s = s.WithDefaults()
	restricted := map[string]any{
		"allowPrivilegeEscalation": false,
		"readOnlyRootFilesystem":   true,
		"capabilities":             map[string]any{"drop": []any{"ALL"}},
	}
	resources := map[string]any{"cpu": "100m", "memory": "64Mi"}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1",
		"kind":       "InferenceService",
		"metadata": map[string]any{
			"name": s.Name, "namespace": s.Namespace,
			"labels":      map[string]any{LabelName: s.Name, LabelManagedBy: "modelguard"},
			"annotations": map[string]any{annotationMode: "RawDeployment", AnnotationModel: s.ModelImage},
		},
		"spec": map[string]any{"predictor": map[string]any{
			"minReplicas":                  int64(s.Replicas),
			"maxReplicas":                  int64(s.Replicas),
			"automountServiceAccountToken": false,
			"securityContext": map[string]any{
				"runAsNonRoot": true, "runAsUser": s.RunAsUser, "runAsGroup": s.RunAsUser,
				"seccompProfile": map[string]any{"type": "RuntimeDefault"},
			},
			"model": map[string]any{
				"modelFormat":     map[string]any{"name": modelFormat},
				"runtime":         s.Runtime,
				"storageUri":      "oci://" + s.ModelImage,
				"resources":       map[string]any{"requests": resources, "limits": resources},
				"securityContext": restricted,
			},
		}},
	}}
}

// ServesInferenceServices says whether the cluster has KServe's
// InferenceService API.
func ServesInferenceServices(d discovery.DiscoveryInterface) (bool, error) {
	list, err := d.ServerResourcesForGroupVersion(InferenceServiceGVR.GroupVersion().String())
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("discover %s: %w", InferenceServiceGVR.GroupVersion(), err)
	}
	for _, r := range list.APIResources {
		if r.Name == InferenceServiceGVR.Resource {
			return true, nil
		}
	}
	return false, nil
}

// ResolveTarget turns TargetAuto into the target the cluster supports.
func (e *Engine) ResolveTarget(ctx context.Context, target string) (string, error) {
	switch target {
	case TargetKServe, TargetDeployment:
		return target, nil
	case "", TargetAuto:
		ok, err := ServesInferenceServices(e.Kube.Discovery())
		if err != nil {
			return "", err
		}
		if ok {
			return TargetKServe, nil
		}
		return TargetDeployment, nil
	}
	return "", fmt.Errorf("target %q: want auto, kserve or deployment", target)
}

// ServingRuntimeGVR is KServe's ServingRuntime.
var ServingRuntimeGVR = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "servingruntimes"}

// RenderWithRuntime is Render plus, for an InferenceService, the
// ServingRuntime it names as the cluster has it: a deployment check needs
// the runtime's containers to see the pod KServe will run. A runtime that
// does not exist is an error now rather than a predictor that never
// starts.
func (e *Engine) RenderWithRuntime(ctx context.Context, s Spec) ([]any, error) {
	objs, err := Render(s)
	if err != nil || s.Target != TargetKServe {
		return objs, err
	}
	if e.Dynamic == nil {
		return nil, fmt.Errorf("render: no dynamic client to read ServingRuntime %s", s.Runtime)
	}
	sr, err := e.Dynamic.Resource(ServingRuntimeGVR).Namespace(s.Namespace).Get(ctx, s.Runtime, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("ServingRuntime %s/%s (the InferenceService's runtime): %w", s.Namespace, s.Runtime, err)
	}
	spec, _, _ := unstructured.NestedMap(sr.Object, "spec")
	clean := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": sr.GetAPIVersion(), "kind": sr.GetKind(),
		"metadata": map[string]any{"name": sr.GetName(), "namespace": sr.GetNamespace()},
		"spec":     spec,
	}}
	return append([]any{clean}, objs...), nil
}
