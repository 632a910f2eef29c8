package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/cli"
	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// guardedByAdmin makes a namespace of the given profile and has a
// cluster admin guard it with the CLI, giving the three personas to the
// local cluster's groups; limits are its annotations.
func guardedByAdmin(t *testing.T, suffix string, profile guard.Profile, limits map[string]string, flags ...string) string {
	t.Helper()
	ns := targetNamespace(t, suffix, handOver{profile: profile, limits: with(limits)})
	args := append([]string{"guard", "apply", "--kubeconfig", env.cluster.Kubeconfig(localcluster.UserAdmin), "--namespace", ns,
		"--data-scientist-group", localcluster.GroupDataScientists, "--ml-engineer-group", localcluster.GroupMLEngineers,
		"--operator-group", localcluster.GroupOperators}, flags...)
	if code, out, errOut := modelguard(args...); code != cli.ExitOK {
		t.Fatalf("guard %s: exit %d\n%s\n%s", ns, code, out, errOut)
	}
	return ns
}

var (
	pipelineRunGVR = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"}
	taskGVR        = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "tasks"}
	notebookGVR    = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1", Resource: "notebooks"}
	runtimeGVR     = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "servingruntimes"}
	deploymentGVR  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	secretGVR      = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// admission is one request a user makes, as a dry run (admission, RBAC
// included, runs in full; nothing is stored), and what should come of it.
type admission struct {
	what string
	who  string
	ns   string
	gvr  schema.GroupVersionResource
	yaml string
	// want is "" for admitted, else text the refusal must contain.
	want []string
}

// try makes the request as a dry run.
func (a admission) try(t *testing.T) { t.Helper(); a.do(t, []string{metav1.DryRunAll}) }

// create makes the request for real.
func (a admission) create(t *testing.T) { t.Helper(); a.do(t, nil) }

func (a admission) do(t *testing.T, dryRun []string) {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(a.yaml), &obj.Object); err != nil {
		t.Fatalf("%s: %v", a.what, err)
	}
	d := dynamic.NewForConfigOrDie(env.cluster.RESTConfig(a.who))
	_, err := d.Resource(a.gvr).Namespace(a.ns).Create(context.Background(), obj, metav1.CreateOptions{DryRun: dryRun})
	switch {
	case len(a.want) == 0 && err != nil:
		t.Errorf("%s (%s): refused: %v", a.what, a.who, err)
	case len(a.want) > 0 && err == nil:
		t.Errorf("%s (%s): admitted; want refused with %q", a.what, a.who, a.want)
	case err != nil:
		for _, w := range a.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s (%s): refusal %q does not say %q", a.what, a.who, err, w)
			}
		}
	}
}

// The policies are installed from config/ and compile against the real
// API server; none has a type-checking warning on the kinds it matches.
func TestAdmissionPoliciesInstalled(t *testing.T) {
	needCluster(t)
	for _, o := range guard.AdmissionPolicies() {
		p, ok := o.(*admissionregistrationv1.ValidatingAdmissionPolicy)
		if !ok {
			continue
		}
		got, err := env.kube.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(context.Background(), p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("policy %s: %v", p.Name, err)
		}
		if tc := got.Status.TypeChecking; tc != nil {
			for _, w := range tc.ExpressionWarnings {
				t.Errorf("policy %s: %s: %s", p.Name, w.FieldRef, w.Warning)
			}
		}
		if _, err := env.kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(context.Background(), p.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("binding %s: %v", p.Name, err)
		}
	}
}
