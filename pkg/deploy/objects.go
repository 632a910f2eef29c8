package deploy

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// Spec is what to deploy.
type Spec struct {
	Namespace string
	Name      string // Deployment, Service and model name
	// ModelImage is the modelcar, pinned by digest; it needs a shell and
	// cp, as KServe modelcars do.
	ModelImage string
	// ServerImage is the modelguard image, pinned by digest (the
	// Deployment's server; under KServe the ServingRuntime names the image).
	ServerImage string
	// Target is where to deploy: TargetAuto (default), TargetKServe or
	// TargetDeployment.
	Target string
	// Runtime is the ServingRuntime an InferenceService names.
	Runtime   string
	Port      int32 // default 8080
	Replicas  int32 // default 1
	RunAsUser int64 // default 65532
}

// Labels and annotations on what Objects returns.
const (
	LabelName       = "app.kubernetes.io/name"
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	AnnotationModel = "modelguard.dev/model-image"
	modelMount      = "/mnt/models"
)

// WithDefaults fills the zero optional fields.
func (s Spec) WithDefaults() Spec {
	if s.Port == 0 {
		s.Port = 8080
	}
	if s.Replicas == 0 {
		s.Replicas = 1
	}
	if s.RunAsUser == 0 {
		s.RunAsUser = 65532
	}
	if s.Target == "" {
		s.Target = TargetAuto
	}
	return s
}

// Validate names the first field that is wrong, by its flag name. With
// TargetAuto the server image is checked too (it may be a Deployment).
func (s Spec) Validate() error {
	switch {
	case len(validation.IsDNS1123Label(s.Namespace)) > 0:
		return fmt.Errorf("namespace %q is not a valid namespace name", s.Namespace)
	case len(validation.IsDNS1035Label(s.Name)) > 0:
		return fmt.Errorf("name %q: want a DNS-1035 label (lower case, starts with a letter), it names a Service", s.Name)
	case !pinned(s.ModelImage):
		return fmt.Errorf("model-image %q is not pinned by digest (repo@sha256:...)", s.ModelImage)
	case s.Port < 1024 || s.Port > 65535:
		return fmt.Errorf("port %d: want 1024-65535 (the server runs as non-root)", s.Port)
	case s.Replicas < 1 || s.Replicas > 50:
		return fmt.Errorf("replicas %d: want 1-50", s.Replicas)
	case s.RunAsUser < 1:
		return fmt.Errorf("run-as-user %d: want a non-root uid", s.RunAsUser)
	}
	switch s.Target {
	case TargetKServe:
		return s.validateKServe()
	case TargetAuto, TargetDeployment:
		if !pinned(s.ServerImage) {
			return fmt.Errorf("server-image %q is not pinned by digest (repo@sha256:...)", s.ServerImage)
		}
		if s.Target == TargetAuto && s.Runtime != "" {
			return s.validateKServe()
		}
		return nil
	}
	return fmt.Errorf("target %q: want auto, kserve or deployment", s.Target)
}

func pinned(ref string) bool {
	_, digest, ok := strings.Cut(ref, "@sha256:")
	return ok && len(digest) == 64
}

// Objects renders the Deployment and Service for s (defaults applied).
func Objects(s Spec) (*appsv1.Deployment, *corev1.Service) {
	s = s.WithDefaults()
	labels := map[string]string{LabelName: s.Name, LabelManagedBy: "modelguard"}
	selector := map[string]string{LabelName: s.Name}
	restricted := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	resources := func(cpu, mem string) corev1.ResourceRequirements {
		q := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
		return corev1.ResourceRequirements{Requests: q, Limits: q}
	}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString("http")}}, PeriodSeconds: 2, FailureThreshold: 3}
	}
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: labels, Annotations: map[string]string{AnnotationModel: s.ModelImage}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(s.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{AnnotationModel: s.ModelImage}},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(s.RunAsUser), RunAsGroup: ptr.To(s.RunAsUser),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					// The model image only carries files; copying them out
					// is what KServe's storage initializer does for OCI.
					InitContainers: []corev1.Container{{
						Name: "model", Image: s.ModelImage,
						Command:         []string{"sh", "-c", "cp -R /models/. " + modelMount + "/"},
						VolumeMounts:    []corev1.VolumeMount{{Name: "models", MountPath: modelMount}},
						Resources:       resources("100m", "64Mi"),
						SecurityContext: restricted,
					}},
					Containers: []corev1.Container{{
						Name: "server", Image: s.ServerImage,
						Command: []string{"modelguard", "serve", "--models=" + modelMount, "--name=" + s.Name,
							"--listen=:" + strconv.Itoa(int(s.Port))},
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: s.Port}},
						ReadinessProbe:  probe("/v2/models/" + s.Name + "/ready"),
						LivenessProbe:   probe("/v2/health/live"),
						VolumeMounts:    []corev1.VolumeMount{{Name: "models", MountPath: modelMount, ReadOnly: true}},
						Resources:       resources("100m", "64Mi"),
						SecurityContext: restricted,
					}},
					Volumes: []corev1.Volume{{Name: "models", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	return dep, svc
}
