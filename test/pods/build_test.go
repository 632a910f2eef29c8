package pods

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// modelVolume puts the models of testdata/ on a PersistentVolume (a
// hostPath volume an admin would create; there is no provisioner here)
// and returns a bound claim for the model workspace. The files are copied
// world-readable, since the step runs as a non-root uid.
func modelVolume(t *testing.T, ns, name string, models map[string]string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pods-models-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for sub, src := range models {
		if err := copyTree(src, filepath.Join(dir, sub)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	size := resource.MustParse("64Mi")
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
			ClaimRef:                      &corev1.ObjectReference{Namespace: ns, Name: name},
		},
	}
	if _, err := env.kube.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.CoreV1().PersistentVolumes().Delete(context.Background(), pv.Name, metav1.DeleteOptions{})
	})
	empty := ""
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
			VolumeName:       pv.Name,
			StorageClassName: &empty,
		},
	}
	if _, err := env.kube.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

func modelWorkspace(claim string) pipelinev1.WorkspaceBinding {
	return pipelinev1.WorkspaceBinding{Name: "model", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}
}

// model-image-build in a pod: the tiny model from testdata is built onto
// the node's busybox base and pushed to the node's registry; a model that
// does not fit the runtime's layout fails with the missing file named.
func testModelImageBuild(t *testing.T) {
	ns := namespace(t, "task-model-image-build")
	applyTask(t, ns, "model-image-build")
	tiny := filepath.Join(repoRoot(), "test", "pods", "testdata", "tiny-model")
	claim := modelVolume(t, ns, "models", map[string]string{"tiny": tiny, "broken/weights": filepath.Join(tiny)})
	target := env.cluster.Registry + "/models/tiny:1"
	ws := []pipelinev1.WorkspaceBinding{modelWorkspace(claim), emptyDirWorkspace("output")}

	tr := taskRun{name: "build", workspaces: ws, params: map[string]string{
		"image": target, "base-image": env.cluster.Images.Busybox, "model-path": "tiny", "runtime": "vllm",
		"source-date-epoch": "1735689600", "licenses": "Apache-2.0"}}.run(t, ns, "model-image-build")
	wantDone(t, tr, true)
	url, digest := result(tr, "IMAGE_URL"), result(tr, "IMAGE_DIGEST")
	if url != target || !strings.HasPrefix(digest, "sha256:") || result(tr, "STORAGE_URI") != "oci://"+env.cluster.Registry+"/models/tiny@"+digest {
		t.Fatalf("results: %+v", tr.Status.Results)
	}
	ref, err := name.NewDigest(env.cluster.Registry+"/models/tiny@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull the built image back: %v", err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(m.Annotations); !strings.Contains(got, "Apache-2.0") {
		t.Errorf("manifest annotations: %s", got)
	}

	// "broken" has its files one level down: vLLM wants config.json at the
	// model's root, so the step stops before pushing anything.
	tr = taskRun{name: "broken", workspaces: ws, params: map[string]string{
		"image": env.cluster.Registry + "/models/broken:1", "base-image": env.cluster.Images.Busybox,
		"model-path": "broken", "runtime": "vllm"}}.run(t, ns, "model-image-build")
	wantDone(t, tr, false, "config.json")
	if result(tr, "IMAGE_DIGEST") != "" {
		t.Errorf("a failed build reported a digest: %+v", tr.Status.Results)
	}
	if broken, err := name.NewTag(env.cluster.Registry+"/models/broken:1", name.Insecure); err != nil {
		t.Fatal(err)
	} else if _, err := remote.Head(broken); err == nil {
		t.Error("the failed build pushed a tag")
	}
}
