package deploy

import (
	"strings"
	"testing"
)

const (
	model  = "127.0.0.1:5000/models/tiny@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	server = "127.0.0.1:5000/modelguard/modelguard@sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestValidateNamesTheField(t *testing.T) {
	good := Spec{Namespace: "serving", Name: "tiny", ModelImage: model, ServerImage: server}.WithDefaults()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for want, mutate := range map[string]func(*Spec){
		"namespace":    func(s *Spec) { s.Namespace = "Bad_NS" },
		"name":         func(s *Spec) { s.Name = "1tiny" },
		"model-image":  func(s *Spec) { s.ModelImage = "127.0.0.1:5000/models/tiny:1" },
		"server-image": func(s *Spec) { s.ServerImage = "modelguard@sha256:short" },
		"port":         func(s *Spec) { s.Port = 80 },
		"replicas":     func(s *Spec) { s.Replicas = 100 },
		"run-as-user":  func(s *Spec) { s.RunAsUser = -1 },
	} {
		s := good
		mutate(&s)
		if err := s.Validate(); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}

// The pod must pass the restricted Pod Security profile that
// NamespaceGuard puts on serving namespaces, and a quota that wants
// requests and limits on every container.
func TestObjectsAreRestrictedAndPinned(t *testing.T) {
	dep, svc := Objects(Spec{Namespace: "serving", Name: "tiny", ModelImage: model, ServerImage: server})
	pod := dep.Spec.Template.Spec
	if sc := pod.SecurityContext; !*sc.RunAsNonRoot || *sc.RunAsUser != 65532 || sc.SeccompProfile == nil {
		t.Errorf("pod securityContext = %+v", sc)
	}
	if *pod.AutomountServiceAccountToken {
		t.Error("the model server gets an API token it does not need")
	}
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		sc := c.SecurityContext
		if *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s: securityContext %+v", c.Name, sc)
		}
		if c.Resources.Limits.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s: resources %+v", c.Name, c.Resources)
		}
	}
	if pod.InitContainers[0].Image != model || pod.Containers[0].Image != server {
		t.Errorf("images: %s, %s", pod.InitContainers[0].Image, pod.Containers[0].Image)
	}
	if got := pod.Containers[0].ReadinessProbe.HTTPGet.Path; got != "/v2/models/tiny/ready" {
		t.Errorf("readiness probe %s", got)
	}
	if got := strings.Join(pod.Containers[0].Command, " "); got != "modelguard serve --models=/mnt/models --name=tiny --listen=:8080" {
		t.Errorf("command %q", got)
	}
	if svc.Spec.Selector[LabelName] != "tiny" || dep.Spec.Selector.MatchLabels[LabelName] != "tiny" || svc.Spec.Ports[0].TargetPort.StrVal != "http" {
		t.Errorf("service %+v", svc.Spec)
	}
	if dep.Annotations[AnnotationModel] != model {
		t.Errorf("annotations %v", dep.Annotations)
	}
}
