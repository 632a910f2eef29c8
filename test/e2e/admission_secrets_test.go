package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"knative.dev/pkg/apis"
)

// "Nobody reads Secrets except operators" holds at admission: a data
// scientist or an ML engineer cannot have a workbench, an InferenceService,
// a ServingRuntime, a Task or a PipelineRun mount a Secret outside the
// admin's allow-list, nor run as a ServiceAccount outside it. An operator,
// who may read the Secrets anyway, still can.
func TestAdmissionSecretMounts(t *testing.T) {
	ns := guardedByAdmin(t, "secrets", guard.Dev, map[string]string{
		guard.AllowSecretsAnnotation:         "public-config",
		guard.AllowServiceAccountsAnnotation: "pipeline",
	})
	const secretEnv = `[{name: KEY, valueFrom: {secretKeyRef: {name: model-store, key: key}}}]`
	policy := guard.PolicyWorkloadSecrets
	bad := []string{"Secret model-store", policy, guard.AllowSecretsAnnotation}
	badSA := []string{"ServiceAccount deployer", policy, guard.AllowServiceAccountsAnnotation}
	for _, a := range []admission{
		{"InferenceService with a Secret in its model's env", localcluster.UserAlice, ns, isvcGVR, `
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: leak}
spec: {predictor: {model: {modelFormat: {name: sklearn}, storageUri: "oci://r/m@sha256:0", env: ` + secretEnv + `}}}`, bad},
		{"InferenceService with a Secret volume", localcluster.UserBob, ns, isvcGVR, `
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: leak}
spec: {predictor: {volumes: [{name: s, secret: {secretName: model-store}}], containers: [{name: c, image: i}]}}`, bad},
		{"InferenceService as another ServiceAccount", localcluster.UserAlice, ns, isvcGVR, `
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: leak}
spec: {predictor: {serviceAccountName: deployer, model: {modelFormat: {name: sklearn}}}}`, badSA},
		{"InferenceService with an allowed Secret", localcluster.UserAlice, ns, isvcGVR, `
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: fine}
spec: {predictor: {model: {modelFormat: {name: sklearn}, envFrom: [{secretRef: {name: public-config}}]}}}`, nil},
		{"ServingRuntime with a Secret in envFrom", localcluster.UserAlice, ns, runtimeGVR, `
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata: {name: leak}
spec: {containers: [{name: c, image: i, envFrom: [{secretRef: {name: model-store}}]}]}`, bad},
		{"workbench with a projected Secret", localcluster.UserAlice, ns, notebookGVR, `
apiVersion: kubeflow.org/v1
kind: Notebook
metadata: {name: leak}
spec: {template: {spec: {containers: [{name: c, image: i}], volumes: [{name: p, projected: {sources: [{secret: {name: model-store}}]}}]}}}`, bad},
		{"Task with a Secret volume", localcluster.UserBob, ns, taskGVR, `
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: leak}
spec: {volumes: [{name: s, secret: {secretName: model-store}}], steps: [{name: s, image: i, script: "cat /s/key"}]}`, bad},
		{"PipelineRun with an inline step reading a Secret", localcluster.UserBob, ns, pipelineRunGVR, `
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: leak}
spec: {pipelineSpec: {tasks: [{name: t, taskSpec: {steps: [{name: s, image: i, env: ` + secretEnv + `, script: "echo $KEY"}]}}]}}`, bad},
		{"PipelineRun binding a Secret workspace", localcluster.UserBob, ns, pipelineRunGVR, `
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: leak}
spec: {pipelineRef: {name: release}, workspaces: [{name: creds, secret: {secretName: model-store}}]}`, bad},
		{"PipelineRun whose pod template mounts a Secret", localcluster.UserBob, ns, pipelineRunGVR, `
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: leak}
spec: {pipelineRef: {name: release}, taskRunTemplate: {podTemplate: {volumes: [{name: s, secret: {secretName: model-store}}]}}}`, bad},
		{"PipelineRun as another ServiceAccount", localcluster.UserBob, ns, pipelineRunGVR, `
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: leak}
spec: {pipelineRef: {name: release}, taskRunTemplate: {serviceAccountName: deployer}}`, badSA},
		{"PipelineRun running one task as another ServiceAccount", localcluster.UserBob, ns, pipelineRunGVR, `
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: leak}
spec: {pipelineRef: {name: release}, taskRunSpecs: [{pipelineTaskName: build, serviceAccountName: deployer}]}`, badSA},
		{"PipelineRun as an allowed ServiceAccount", localcluster.UserBob, ns, pipelineRunGVR, `
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: fine}
spec: {pipelineRef: {name: release}, taskRunTemplate: {serviceAccountName: pipeline}}`, nil},
		{"operator's Deployment with the Secret", localcluster.UserCarol, ns, deploymentGVR, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: server}
spec:
  selector: {matchLabels: {app: s}}
  template:
    metadata: {labels: {app: s}}
    spec: {serviceAccountName: deployer, containers: [{name: c, image: i, env: ` + secretEnv + `}]}`, nil},
	} {
		a.try(t)
	}

	// Changing an admitted InferenceService is judged the same way; an
	// update that leaves its spec alone (a controller's finalizer) is not
	// judged at all.
	ctx := context.Background()
	alice := dynamic.NewForConfigOrDie(env.cluster.RESTConfig(localcluster.UserAlice))
	isvc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
		"metadata": map[string]any{"name": "model"}, "spec": map[string]any{"predictor": map[string]any{"model": map[string]any{"storageUri": "oci://r/m@sha256:0"}}}}}
	isvc, err := alice.Resource(isvcGVR).Namespace(ns).Create(ctx, isvc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	isvc.SetLabels(map[string]string{"team": "fraud"})
	if isvc, err = alice.Resource(isvcGVR).Namespace(ns).Update(ctx, isvc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("alice relabels her InferenceService: %v", err)
	}
	_ = unstructured.SetNestedSlice(isvc.Object, []any{map[string]any{"name": "K", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "model-store", "key": "key"}}}},
		"spec", "predictor", "model", "env")
	if _, err := alice.Resource(isvcGVR).Namespace(ns).Update(ctx, isvc, metav1.UpdateOptions{}); err == nil || !strings.Contains(err.Error(), "Secret model-store") {
		t.Errorf("alice adds the Secret to her InferenceService: err = %v; want refused by %s", err, policy)
	}
}

// Kubernetes mints a token for any ServiceAccount a Secret of type
// service-account-token names: an operator's right to create Secrets
// must not include that.
func TestAdmissionServiceAccountTokenSecrets(t *testing.T) {
	ns := guardedByAdmin(t, "tokens", guard.Prod, nil)
	for _, a := range []admission{
		{"service-account-token Secret", localcluster.UserCarol, ns, secretGVR, `
apiVersion: v1
kind: Secret
metadata: {name: token, annotations: {kubernetes.io/service-account.name: default}}
type: kubernetes.io/service-account-token`, []string{"kubernetes.io/service-account-token", guard.PolicySATokens}},
		{"Opaque Secret", localcluster.UserCarol, ns, secretGVR, `
apiVersion: v1
kind: Secret
metadata: {name: store}
stringData: {key: v}`, nil},
	} {
		a.try(t)
	}
}

// A Task an operator wrote may mount a Secret; an ML engineer who runs it
// in a PipelineRun does not get that Secret: the TaskRun's pod is held to
// the allow-list, whoever creates it, and the TaskRun fails saying why.
func TestAdmissionPipelinePodSecrets(t *testing.T) {
	ctx := context.Background()
	// Privileged Pod Security (allowed by the admin here) so that Tekton's
	// own init containers are not refused before the policy is reached.
	ns := guardedByAdmin(t, "pods", guard.Dev, map[string]string{guard.AllowPodSecurityAnnotation: "privileged"}, "--pod-security", "privileged")
	// No controller-manager makes the default ServiceAccount here.
	if _, err := env.kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	task := admission{"operator's Task with the Secret", localcluster.UserCarol, ns, taskGVR, `
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: read-store}
spec: {steps: [{name: s, image: busybox, env: [{name: KEY, valueFrom: {secretKeyRef: {name: model-store, key: key}}}], script: "echo $KEY"}]}`, nil}
	task.create(t)
	pr := admission{"ML engineer's PipelineRun of it", localcluster.UserBob, ns, pipelineRunGVR, `
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: borrow}
spec: {pipelineSpec: {tasks: [{name: t, taskRef: {name: read-store}}]}}`, nil}
	pr.create(t)
	done := waitPipelineRun(t, ns, "borrow", 60*time.Second)
	c := done.Status.GetCondition(apis.ConditionSucceeded)
	trs, err := env.tekton.TektonV1().TaskRuns(ns).List(ctx, metav1.ListOptions{LabelSelector: "tekton.dev/pipelineRun=borrow"})
	if err != nil || len(trs.Items) != 1 {
		t.Fatalf("TaskRuns of borrow: %v (%v)", trs, err)
	}
	tc := trs.Items[0].Status.GetCondition(apis.ConditionSucceeded)
	if !c.IsFalse() || !tc.IsFalse() || !strings.Contains(tc.Message, guard.PolicyPipelinePods) || !strings.Contains(tc.Message, "Secret model-store") {
		t.Fatalf("PipelineRun %s/%s; TaskRun %s: %q", c.Status, c.Reason, tc.Reason, tc.Message)
	}
	pods, err := env.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 0 {
		t.Fatalf("pods in %s: %v (%v)", ns, pods, err)
	}
}
