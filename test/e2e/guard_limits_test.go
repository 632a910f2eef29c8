package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/test/localcluster"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// apiServerIP is the ClusterIP of Service default/kubernetes.
func apiServerIP(t *testing.T) string {
	t.Helper()
	svc, err := env.kube.CoreV1().Services("default").Get(context.Background(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Spec.ClusterIP
}

// The attacks of issue 12, each from a PipelineRun in the pipeline
// namespace by the pipeline author (dave) or an ML engineer (bob), with
// their own tokens, against a namespace handed over with the safe
// defaults: each is refused naming the param and the limit, and nothing
// is written.
func TestNamespaceGuardLimits(t *testing.T) {
	pipelines := pipelineNamespace(t)
	dev := targetNamespace(t, "dev", handOver{from: pipelines, profile: guard.Dev, limits: personaLimits})
	prod := targetNamespace(t, "prod", handOver{from: pipelines, profile: guard.Prod, limits: personaLimits})
	api := apiServerIP(t)
	for _, a := range []struct {
		name, who, target, params string
		want                      []string
	}{
		{"privileged", localcluster.UserBob, dev, `- {name: pod-security, value: privileged}`,
			[]string{`param "pod-security": "privileged" is below restricted`, guard.AllowPodSecurityAnnotation}},
		{"metadata", localcluster.UserDave, dev, `- {name: egress, value: ["169.254.169.254/32"]}`,
			[]string{`param "egress": "169.254.169.254/32" is outside the egress`, guard.AllowEgressAnnotation}},
		{"internet", localcluster.UserBob, dev, `- {name: egress, value: ["0.0.0.0/0"]}`,
			[]string{`param "egress": "0.0.0.0/0" is outside the egress`, guard.AllowEgressAnnotation}},
		{"internet-v6", localcluster.UserDave, dev, `- {name: egress, value: ["::/0"]}`,
			[]string{`param "egress": "::/0" is outside the egress`}},
		{"api-server", localcluster.UserBob, dev, fmt.Sprintf(`- {name: egress, value: ["%s/32:443"]}`, api),
			[]string{fmt.Sprintf(`param "egress": "%s/32" is the API server`, api), guard.AllowEgressAnnotation}},
		{"their-namespace", localcluster.UserBob, dev, fmt.Sprintf(`- {name: ingress, value: ["namespace:%s"]}`, pipelines),
			[]string{fmt.Sprintf(`param "ingress": "namespace:%s" is not a source`, pipelines), guard.AllowIngressAnnotation}},
		{"self-operator", localcluster.UserBob, dev, `- {name: operator-users, value: [bob]}`,
			[]string{`param "operator-users": "bob" is not among the operator users`, guard.AllowSubjectsAnnotation(guard.Operator)}},
		{"own-group-as-operator", localcluster.UserBob, dev, fmt.Sprintf(`- {name: operator-users, value: [carol]}
          - {name: data-scientist-users, value: ["%s"]}`, localcluster.UserBob),
			[]string{`param "data-scientist-users": "bob" is not among the data-scientist users`, guard.AllowSubjectsAnnotation(guard.DataScientist)}},
		{"prod-as-dev", localcluster.UserBob, prod, `- {name: profile, value: dev}`,
			[]string{`param "profile": "dev", but a cluster admin declared namespace`, guard.NamespaceProfileLabel}},
		{"gpus", localcluster.UserDave, dev, `- {name: quota, value: {gpu: "64"}}`,
			[]string{`param "quota": key "gpu": "64" is above 1`, guard.MaxQuotaAnnotation}},
	} {
		run := guardRunAs(t, a.who, pipelines, a.name, a.target, personaParams+"          "+a.params)
		wantRefused(t, a.target, run, "LimitExceeded", a.want...)
	}
	n, err := env.kube.CoreV1().Namespaces().Get(context.Background(), dev, metav1.GetOptions{})
	if err != nil || n.Labels["pod-security.kubernetes.io/enforce"] != "" {
		t.Fatalf("namespace %s after refused guards: %v (%v)", dev, n.Labels, err)
	}

	// The same asks pass once a cluster admin allows them, and a wide
	// egress keeps the API server and link-local closed.
	annotate(t, dev, map[string]string{
		guard.AllowPodSecurityAnnotation: "baseline",
		guard.AllowEgressAnnotation:      "0.0.0.0/0",
		guard.AllowIngressAnnotation:     "monitoring,namespace:" + pipelines,
		guard.MaxQuotaAnnotation:         "gpu=4",
	})
	run := guardRunAs(t, localcluster.UserBob, pipelines, "allowed", dev, personaParams+fmt.Sprintf(`          - {name: pod-security, value: baseline}
          - {name: egress, value: ["0.0.0.0/0:443"]}
          - {name: ingress, value: ["namespace:%s"]}
          - {name: quota, value: {gpu: "4"}}`, pipelines))
	if !run.IsSuccessful() {
		t.Fatalf("allowed guard: %s", statusOf(run))
	}
	np, err := env.kube.NetworkingV1().NetworkPolicies(dev).Get(context.Background(), "modelguard-allow-egress", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	except := strings.Join(np.Spec.Egress[0].To[0].IPBlock.Except, ",")
	for _, closed := range []string{api + "/32", "169.254.0.0/16", "127.0.0.0/8"} {
		if !strings.Contains(except, closed) {
			t.Errorf("egress to 0.0.0.0/0 does not keep %s closed: except %q", closed, except)
		}
	}
	n, err = env.kube.CoreV1().Namespaces().Get(context.Background(), dev, metav1.GetOptions{})
	if err != nil || n.Labels["pod-security.kubernetes.io/enforce"] != "baseline" {
		t.Fatalf("namespace labels: %v (%v)", n.Labels, err)
	}
}
