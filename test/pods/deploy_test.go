package pods

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/modelcar"
	"github.com/modelguard/modelguard/pkg/modelserver"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tinyModel is the model every deploy test serves.
func tinyModel() string { return filepath.Join(repoRoot(), "test", "pods", "testdata", "tiny-model") }

// buildTiny builds the tiny model onto the node's busybox base with the
// builder library and returns repo@digest.
func buildTiny(t *testing.T, repo string) string {
	t.Helper()
	res, err := modelcar.Build(context.Background(), modelcar.Options{ModelDir: tinyModel(), Base: env.cluster.Images.Busybox,
		Target: env.cluster.Registry + "/" + repo + ":1", Runtime: modelcar.VLLM, Created: time.Unix(1735689600, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return env.cluster.Registry + "/" + repo + "@" + res.ImageDigest
}

// sampleRBAC applies a Task's samples/rbac.yaml with its namespaces
// renamed, so each test has its own.
func sampleRBAC(t *testing.T, task string, rename map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "tasks", task, "0.1", "samples", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := string(b)
	for from, to := range rename {
		// Every mention: a namespace field, or a Namespace object's name
		// (a ClusterRole's resourceNames).
		y = strings.ReplaceAll(y, from, to)
	}
	f := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := env.cluster.Kubectl(context.Background(), localcluster.UserAdmin, "apply", "-f", f); err != nil {
		t.Fatalf("apply %s samples/rbac.yaml: %v\n%s", task, err, out)
	}
}

// model-deploy in a pod: the tiny model comes up under the Task's sample
// RBAC and serves exactly the files of testdata/tiny-model; a model image
// that no one signed with the given key is refused before anything is
// applied.
func testModelDeploy(t *testing.T) {
	pipelines, serving := namespace(t, "deploy-pipelines"), servingNamespace(t, "deploy-serving")
	sampleRBAC(t, "model-deploy", map[string]string{"model-pipelines": pipelines, "model-serving": serving})
	applyTask(t, pipelines, "model-deploy")
	image := buildTiny(t, "models/tiny-deploy")

	tr := taskRun{name: "deploy", serviceAccount: "model-deploy", params: map[string]string{
		"namespace": serving, "name": "tiny", "model-image": image, "timeout": "2m"}}.run(t, pipelines, "model-deploy")
	wantDone(t, tr, true, "ready, serving tiny")
	want, err := modelserver.Load("tiny", tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	if got := result(tr, "SERVED_DIGEST"); got != want.Digest {
		t.Errorf("SERVED_DIGEST = %q, want %q (the digest of testdata/tiny-model)", got, want.Digest)
	}

	// A key the image was never signed with: exit 2 before deploying.
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte("unused"), nil })
	if err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cosign-pub"}, Data: map[string][]byte{"cosign.pub": keys.PublicBytes}}
	if _, err := env.kube.CoreV1().Secrets(pipelines).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr = taskRun{name: "unsigned", serviceAccount: "model-deploy", params: map[string]string{
		"namespace": serving, "name": "unsigned", "model-image": image, "verify-timeout": "3s"},
		workspaces: []pipelinev1.WorkspaceBinding{secretWorkspace("cosign-pub", "cosign-pub")}}.run(t, pipelines, "model-deploy")
	wantDone(t, tr, false, "NotSigned")
	if _, err := env.kube.AppsV1().Deployments(serving).Get(context.Background(), "unsigned", metav1.GetOptions{}); err == nil {
		t.Error("an unverified image was deployed")
	}
}
