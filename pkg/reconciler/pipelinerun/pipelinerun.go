// Package pipelinerun writes the provenance Tekton Chains cannot: when a
// PipelineRun with modelguard CustomRuns (or any other) ends in a
// namespace that opted in to signing, it attests, with that namespace's
// key, a SLSA v1.0 statement of the whole run — every TaskRun and
// CustomRun, with its params digest and outcome — on each image the run
// produced, and the build's CycloneDX ML-BOM on its image. Once per run:
// the PipelineRun is annotated when done.
package pipelinerun

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/modelguard/modelguard/pkg/attest"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	listersv1 "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1"
	listersv1beta1 "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	kreconciler "knative.dev/pkg/reconciler"
)

// Annotation marks a PipelineRun whose provenance is settled: "written",
// "none" (it produced no image), or "failed: <why>".
const Annotation = "modelguard.dev/provenance"

// Event reasons on the PipelineRun.
const (
	ReasonWritten = "ProvenanceWritten"
	ReasonFailed  = "ProvenanceFailed"
)

// Reconciler attests finished PipelineRuns.
type Reconciler struct {
	kreconciler.LeaderAwareFuncs

	PipelineRuns listersv1.PipelineRunLister
	TaskRuns     listersv1.TaskRunLister
	CustomRuns   listersv1beta1.CustomRunLister
	Tekton       tekton.Interface
	Keys         *attest.NamespaceKeys
	Recorder     record.EventRecorder
	Write        attest.WriteOptions
	// MaxAttempts bounds the tries for one run (registry down, key
	// broken) before it is marked failed (default 5).
	MaxAttempts int
	// ChildGrace is how long after the PipelineRun ends a child that has
	// not ended yet (a CustomRun still cancelling) is waited for.
	ChildGrace time.Duration
	Now        func() time.Time

	mu       sync.Mutex
	attempts map[types.NamespacedName]int
}

// Reconcile implements controller.Reconciler: guard clauses, then one
// write per produced image.
func (r *Reconciler) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not ours to fix
	}
	nn := types.NamespacedName{Namespace: ns, Name: name}
	if !r.IsLeaderFor(nn) {
		return controller.NewSkipKey(key)
	}
	pr, err := r.PipelineRuns.PipelineRuns(ns).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		r.forget(nn)
		return nil
	case err != nil:
		return err
	case !pr.IsDone() || pr.Annotations[Annotation] != "":
		return nil
	}
	optedIn, err := r.Keys.OptedIn(ctx, ns)
	if err != nil || !optedIn {
		return err
	}
	taskRuns, customRuns, pending := r.children(pr)
	if pending && r.now().Sub(completion(pr)) < r.childGrace() {
		return controller.NewRequeueAfter(2 * time.Second)
	}
	if err := r.attest(ctx, pr, taskRuns, customRuns); err != nil {
		return r.retry(ctx, pr, nn, err)
	}
	r.forget(nn)
	return nil
}

func (r *Reconciler) attest(ctx context.Context, pr *pipelinev1.PipelineRun, taskRuns []*pipelinev1.TaskRun, customRuns []*v1beta1.CustomRun) error {
	stmt, images, err := attest.PipelineProvenance(ctx, pr, taskRuns, customRuns)
	if err != nil {
		return err
	}
	if len(images) == 0 {
		return r.mark(ctx, pr, "none")
	}
	signer, err := r.Keys.Signer(ctx, pr.Namespace)
	if err != nil {
		return err
	}
	if err := signer.AttestStatement(ctx, stmt, images, r.Write); err != nil {
		return err
	}
	boms := 0
	for _, tr := range taskRuns {
		n, err := r.attestBOM(ctx, signer, tr)
		if err != nil {
			return err
		}
		boms += n
	}
	r.Recorder.Eventf(pr, corev1.EventTypeNormal, ReasonWritten, "pipeline provenance (%d runs) attested with %s on %s%s",
		len(pr.Status.ChildReferences), signer.Ref(), strings.Join(images, ", "), map[bool]string{true: fmt.Sprintf("; %d ML-BOM(s)", boms)}[boms > 0])
	return r.mark(ctx, pr, "written")
}

// attestBOM attests a build TaskRun's ML-BOM (results IMAGE_URL,
// IMAGE_DIGEST, MLBOM_DIGEST) on its image: the BOM the build attached,
// if its digest is the one the TaskRun reported.
func (r *Reconciler) attestBOM(ctx context.Context, s *attest.Signer, tr *pipelinev1.TaskRun) (int, error) {
	res := map[string]string{}
	for _, x := range tr.Status.Results {
		res[x.Name] = x.Value.StringVal
	}
	url, digest, bom := res["IMAGE_URL"], res["IMAGE_DIGEST"], res["MLBOM_DIGEST"]
	if url == "" || digest == "" || bom == "" {
		return 0, nil
	}
	repo := url
	if i := strings.LastIndexByte(url, ':'); i > strings.LastIndexByte(url, '/') {
		repo = url[:i]
	}
	if err := s.AttestSBOM(ctx, repo+"@"+digest, bom, r.Write); err != nil {
		return 0, fmt.Errorf("ML-BOM of TaskRun %s: %w", tr.Name, err)
	}
	return 1, nil
}

// children returns the run's TaskRuns and CustomRuns, and whether one of
// them has not ended.
func (r *Reconciler) children(pr *pipelinev1.PipelineRun) ([]*pipelinev1.TaskRun, []*v1beta1.CustomRun, bool) {
	var trs []*pipelinev1.TaskRun
	var crs []*v1beta1.CustomRun
	pending := false
	for _, c := range pr.Status.ChildReferences {
		switch c.Kind {
		case "TaskRun":
			if tr, err := r.TaskRuns.TaskRuns(pr.Namespace).Get(c.Name); err == nil {
				trs = append(trs, tr)
				pending = pending || !tr.IsDone()
			}
		case "CustomRun":
			if cr, err := r.CustomRuns.CustomRuns(pr.Namespace).Get(c.Name); err == nil {
				crs = append(crs, cr)
				pending = pending || !cr.IsDone()
			}
		}
	}
	return trs, crs, pending
}

// retry gives a failed attempt back to the workqueue (with its backoff),
// and after MaxAttempts marks the run failed and says why, once.
func (r *Reconciler) retry(ctx context.Context, pr *pipelinev1.PipelineRun, nn types.NamespacedName, cause error) error {
	r.mu.Lock()
	if r.attempts == nil {
		r.attempts = map[types.NamespacedName]int{}
	}
	r.attempts[nn]++
	n := r.attempts[nn]
	r.mu.Unlock()
	max := r.MaxAttempts
	if max <= 0 {
		max = 5
	}
	logging.FromContext(ctx).Warnw("pipeline provenance", "pipelinerun", nn.String(), "attempt", n, "error", cause)
	if n < max {
		return cause
	}
	r.forget(nn)
	msg := fmt.Sprintf("after %d attempts: %v", n, cause)
	r.Recorder.Event(pr, corev1.EventTypeWarning, ReasonFailed, cut(msg, 1000))
	return r.mark(ctx, pr, "failed: "+cut(cause.Error(), 200))
}

func (r *Reconciler) forget(nn types.NamespacedName) {
	r.mu.Lock()
	delete(r.attempts, nn)
	r.mu.Unlock()
}

// mark settles the run with a merge patch of one annotation: nothing of
// Tekton's (spec, status) is touched.
func (r *Reconciler) mark(ctx context.Context, pr *pipelinev1.PipelineRun, value string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{Annotation: value}}})
	if err != nil {
		return err
	}
	_, err = r.Tekton.TektonV1().PipelineRuns(pr.Namespace).Patch(ctx, pr.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) childGrace() time.Duration {
	if r.ChildGrace > 0 {
		return r.ChildGrace
	}
	return 30 * time.Second
}

func completion(pr *pipelinev1.PipelineRun) time.Time {
	if pr.Status.CompletionTime != nil {
		return pr.Status.CompletionTime.Time
	}
	return time.Time{}
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
