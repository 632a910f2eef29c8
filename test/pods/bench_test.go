package pods

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"knative.dev/pkg/apis"
)

// TestBenchGatePodVsCustomRun measures, in one run on the local node, the
// same ACS scan gate both ways: the acs-image-scan Task as a pod-based
// TaskRun, and the ImageScan custom task as a CustomRun, each from create
// to Succeeded, every run asking the Central emulator for a scan. It
// prints figures and asserts no timings (`make bench`).
func TestBenchGatePodVsCustomRun(t *testing.T) {
	if os.Getenv("MODELGUARD_BENCH") == "" {
		t.Skip("set MODELGUARD_BENCH=1 (make bench) to run the benchmark")
	}
	central := startCentral(t)
	ns := namespace(t, "bench-gate")
	applyTask(t, ns, "acs-image-scan")
	secret := acsSecret(t, ns, central, centralToken)
	acsSecretNamed(t, ns, "modelguard-acs", central, centralToken)
	bindACSReader(t, ns)
	digest := cleanImage[strings.Index(cleanImage, "@"):]
	image := func(i int) string { return fmt.Sprintf("registry.bench.test/run-%d/sentiment%s", i, digest) }

	taskRun := func(i int) runtime.Object {
		return &pipelinev1.TaskRun{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: ns},
			Spec: pipelinev1.TaskRunSpec{
				TaskRef:    &pipelinev1.TaskRef{Name: "acs-image-scan"},
				Params:     pipelinev1.Params{{Name: "image", Value: *pipelinev1.NewStructuredValues(image(i))}},
				Workspaces: []pipelinev1.WorkspaceBinding{secretWorkspace("acs-secret", secret)},
			},
		}
	}
	customRun := func(i int) runtime.Object {
		return &v1beta1.CustomRun{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("custom-%d", i), Namespace: ns},
			Spec: v1beta1.CustomRunSpec{
				CustomRef: &v1beta1.TaskRef{APIVersion: "modelguard.dev/v1alpha1", Kind: "ImageScan"},
				Params:    v1beta1.Params{{Name: "image", Value: *v1beta1.NewStructuredValues(image(1000 + i))}},
			},
		}
	}
	timeRun(t, ns, taskRun(-1)) // pulls the modelguard image onto the node
	var pods, customs []time.Duration
	for i := range 10 {
		pods = append(pods, timeRun(t, ns, taskRun(i)))
	}
	for i := range 50 {
		customs = append(customs, timeRun(t, ns, customRun(i)))
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i] < pods[j] })
	sort.Slice(customs, func(i, j int) bool { return customs[i] < customs[j] })
	p, c := pods[len(pods)/2], customs[len(customs)/2]
	fmt.Printf("bench: ACS scan gate as a pod-based TaskRun (acs-image-scan, one step) create -> Succeeded over %d runs: p50=%s max=%s\n",
		len(pods), p.Round(time.Millisecond), pods[len(pods)-1].Round(time.Millisecond))
	fmt.Printf("bench: the same gate as a modelguard CustomRun (ImageScan) over %d runs: p50=%.1fms p99=%.1fms\n",
		len(customs), ms(c), ms(customs[len(customs)*99/100]))
	fmt.Printf("bench: CustomRun vs pod TaskRun, same gate, same Central, same run: %.0fx faster at p50 (target >= 30x: %s)\n",
		float64(p)/float64(c), map[bool]string{true: "met", false: "MISSED"}[float64(p)/float64(c) >= 30])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// timeRun creates a TaskRun or CustomRun and returns the time from create
// until it succeeded, as seen by a watch opened before the create.
func timeRun(t *testing.T, ns string, obj runtime.Object) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var w watch.Interface
	var err error
	var name string
	switch o := obj.(type) {
	case *pipelinev1.TaskRun:
		name = o.Name
		w, err = env.tekton.TektonV1().TaskRuns(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	case *v1beta1.CustomRun:
		name = o.Name
		w, err = env.tekton.TektonV1beta1().CustomRuns(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	switch o := obj.(type) {
	case *pipelinev1.TaskRun:
		_, err = env.tekton.TektonV1().TaskRuns(ns).Create(ctx, o, metav1.CreateOptions{})
	case *v1beta1.CustomRun:
		_, err = env.tekton.TektonV1beta1().CustomRuns(ns).Create(ctx, o, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	for ev := range w.ResultChan() {
		var c *apis.Condition
		switch o := ev.Object.(type) {
		case *pipelinev1.TaskRun:
			c = o.Status.GetCondition(apis.ConditionSucceeded)
		case *v1beta1.CustomRun:
			c = o.Status.GetCondition(apis.ConditionSucceeded)
		}
		if c == nil || c.IsUnknown() {
			continue
		}
		if !c.IsTrue() {
			t.Fatalf("%s: %s %s", name, c.Reason, c.Message)
		}
		return time.Since(start)
	}
	t.Fatalf("%s: no outcome within 5 minutes", name)
	return 0
}
