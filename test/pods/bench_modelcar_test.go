package pods

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/modelguard/modelguard/pkg/modelcar"
	"github.com/modelguard/modelguard/test/localcluster"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestBenchModelcarPodStart measures what users feel: the time from
// `kubectl apply` of a pod whose container is a 1 GiB modelcar until that
// container runs with /models in place, for the modelcar as modelguard
// builds it (4 uncompressed layers) and for the same files as one gzip
// layer (what `crane append` and buildah produce), from the same registry,
// with the image removed from the node's containerd before each pod (its
// blobs and snapshots deleted), alternating. It prints figures and
// asserts no timings (`make bench`).
func TestBenchModelcarPodStart(t *testing.T) {
	if os.Getenv("MODELGUARD_BENCH") == "" {
		t.Skip("set MODELGUARD_BENCH=1 (make bench) to run the benchmark")
	}
	const trials = 3
	ctx := context.Background()
	ns := namespace(t, "bench-modelcar")
	model, config := benchModel(t)
	res, err := modelcar.Build(ctx, modelcar.Options{ModelDir: model, Base: env.cluster.Images.Busybox,
		Target: env.cluster.Registry + "/models/podbench:modelcar", Runtime: modelcar.VLLM, Created: time.Unix(1735689600, 0)})
	if err != nil {
		t.Fatal(err)
	}
	variants := []podVariant{
		{name: "modelguard modelcar (4 uncompressed layers)", image: env.cluster.Registry + "/models/podbench@" + res.ImageDigest,
			manifest: res.ImageDigest, layer: res.Layers[len(res.Layers)-1].Digest},
		gzipVariant(t, model),
	}
	os.RemoveAll(model)

	for i := range trials {
		for v := range variants {
			vr := &variants[v]
			if err := env.cluster.ForgetImage(ctx, vr.manifest); err != nil {
				t.Fatal(err)
			}
			if has, err := env.cluster.NodeHasBlob(ctx, vr.layer); err != nil || has {
				t.Fatalf("the node still holds layer %s of %s (err %v): not a cold start", vr.layer, vr.name, err)
			}
			took, pulled := timeModelPod(t, ns, fmt.Sprintf("model-%d-%d", v, i), vr.image, config)
			vr.took, vr.pulled = append(vr.took, took), append(vr.pulled, pulled)
		}
	}
	for _, vr := range variants {
		fmt.Printf("bench: pod start, %s, 1 GiB, cold node, %d runs: kubectl apply -> container running with /models: %s; image pull as the kubelet reports it: median %s\n",
			vr.name, trials, spread(vr.took), median(vr.pulled).Round(time.Millisecond))
	}
	ours, gz := median(variants[0].took), median(variants[1].took)
	fmt.Printf("bench: pod start, uncompressed modelcar vs the same files as one gzip layer, same registry: %.1fx sooner at the median (target >= 2x: %s)\n",
		float64(gz)/float64(ours), map[bool]string{true: "met", false: "MISSED"}[float64(gz)/float64(ours) >= 2])
	for _, vr := range variants {
		if err := env.cluster.ForgetImage(ctx, vr.manifest); err != nil {
			t.Error(err)
		}
	}
}

// podVariant is one way of shipping the model, and its pod start times.
type podVariant struct {
	name, image, manifest string
	layer                 string // a model layer, which a cold node must not hold
	took, pulled          []time.Duration
}

// gzipVariant pushes the model as one gzip layer on the same base with
// crane append, and describes it.
func gzipVariant(t *testing.T, model string) podVariant {
	t.Helper()
	tarPath := filepath.Join(t.TempDir(), "model.tar")
	writeModelTar(t, model, tarPath)
	base, err := crane.Pull(env.cluster.Images.Busybox, crane.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := crane.Append(base, tarPath)
	if err != nil {
		t.Fatal(err)
	}
	ref := env.cluster.Registry + "/models/podbench:gzip"
	if err := crane.Push(img, ref, crane.Insecure); err != nil {
		t.Fatal(err)
	}
	os.Remove(tarPath)
	digest, _ := img.Digest()
	layers, _ := img.Layers()
	last, _ := layers[len(layers)-1].Digest()
	return podVariant{name: "the same files as one gzip layer (crane append)", image: env.cluster.Registry + "/models/podbench@" + digest.String(),
		manifest: digest.String(), layer: last.String()}
}

var pulledIn = regexp.MustCompile(`Successfully pulled image .* in ([0-9.]+m?s)`)

// timeModelPod applies a pod running the image, whose command lists /models
// and then sleeps, with kubectl, and returns the time until its container
// is running and the pull time in the kubelet's Pulled event. The logs must
// show the model's config.json: /models was in place. The pod is deleted
// before returning.
func timeModelPod(t *testing.T, ns, name, image, config string) (time.Duration, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	manifest := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(manifest, []byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  terminationGracePeriodSeconds: 0
  # Pod Security restricted, as the namespace enforces; the UID comes
  # from its range.
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: model
      image: %s
      command: [sh, -c, 'cat /models/config.json && echo && exec sleep 3600']
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`, name, ns, image)), 0o644); err != nil {
		t.Fatal(err)
	}
	pods := env.kube.CoreV1().Pods(ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	if out, err := env.cluster.Kubectl(ctx, localcluster.UserAdmin, "apply", "-f", manifest); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	took := waitRunning(t, w, name, start)
	defer deletePod(t, ns, name)
	logs, err := pods.GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	for deadline := time.Now().Add(10 * time.Second); (err != nil || !strings.Contains(string(logs), config)) && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		logs, err = pods.GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	}
	if !strings.Contains(string(logs), config) {
		t.Fatalf("%s: /models/config.json not in the logs (%v): %q", name, err, logs)
	}
	events, err := env.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name + ",reason=Pulled"})
	if err != nil || len(events.Items) == 0 {
		t.Fatalf("%s: no Pulled event (%v)", name, err)
	}
	m := pulledIn.FindStringSubmatch(events.Items[0].Message)
	if m == nil {
		t.Fatalf("%s: Pulled event %q", name, events.Items[0].Message)
	}
	pulled, _ := time.ParseDuration(m[1])
	return took, pulled
}

func waitRunning(t *testing.T, w watch.Interface, name string, start time.Time) time.Duration {
	t.Helper()
	for ev := range w.ResultChan() {
		pod, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.State.Running != nil {
				return time.Since(start)
			}
			if cs.State.Terminated != nil || (cs.State.Waiting != nil && strings.Contains(cs.State.Waiting.Reason, "Err")) {
				t.Fatalf("%s: container %+v", name, cs.State)
			}
		}
	}
	t.Fatalf("%s: not running within 5 minutes", name)
	return 0
}

// deletePod deletes a pod at once and waits until it is gone, so the
// kubelet removes its container (and with it the image's last user).
func deletePod(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	zero := int64(0)
	if err := env.kube.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, err := env.kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return
		}
	}
	t.Fatalf("pod %s not gone within 2 minutes", name)
}

// benchModel writes a 1 GiB Hugging Face style model (4 x 256 MiB shards of
// bf16-like weights, which gzip compresses as it would real ones) on tmpfs
// and returns its directory and its config.json.
func benchModel(t *testing.T) (string, string) {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "modelguard-podbench-")
	if err != nil {
		dir = t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	config := fmt.Sprintf(`{"architectures":["GraniteForCausalLM"],"bench":"%d"}`, time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewChaCha8(sha256.Sum256([]byte(config))))
	block := make([]byte, 16<<20)
	for i := 1; i <= 4; i++ {
		for j := 0; j < len(block); j += 2 {
			bits := math.Float32bits(float32(rng.NormFloat64() * 0.02))
			block[j], block[j+1] = byte(bits>>16), byte(bits>>24)
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("model-%05d-of-00004.safetensors", i)))
		if err != nil {
			t.Fatal(err)
		}
		for written := 0; written < 256<<20; written += len(block) {
			if _, err := f.Write(block); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	}
	return dir, config
}

// writeModelTar writes the model as one plain tar under models/, what
// `crane append -f` is given.
func writeModelTar(t *testing.T, dir, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.WriteHeader(&tar.Header{Name: "models/", Mode: 0o555, Typeflag: tar.TypeDir}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		if err := tw.WriteHeader(&tar.Header{Name: "models/" + e.Name(), Mode: 0o444, Size: info.Size(), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		src, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(tw, src)
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func spread(d []time.Duration) string {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("median %s (min %s, max %s)", s[len(s)/2].Round(time.Millisecond), s[0].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}
