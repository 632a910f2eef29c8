package pipelinerun

import (
	"context"

	"github.com/modelguard/modelguard/pkg/attest"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	pipelineclient "github.com/tektoncd/pipeline/pkg/client/injection/client"
	pipelineruninformer "github.com/tektoncd/pipeline/pkg/client/injection/informers/pipeline/v1/pipelinerun"
	taskruninformer "github.com/tektoncd/pipeline/pkg/client/injection/informers/pipeline/v1/taskrun"
	customruninformer "github.com/tektoncd/pipeline/pkg/client/injection/informers/pipeline/v1beta1/customrun"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	kreconciler "knative.dev/pkg/reconciler"
)

// AgentName is the component on the Events this reconciler emits.
const AgentName = "modelguard-provenance"

// NewController watches PipelineRuns in every namespace; only finished,
// unsettled runs are queued, and a run's children (TaskRuns, CustomRuns)
// requeue it when they change, so a run that ended before its last
// CustomRun did is looked at again.
func NewController(ctx context.Context, _ configmap.Watcher) *controller.Impl {
	logger := logging.FromContext(ctx).Named(AgentName)
	prs := pipelineruninformer.Get(ctx)
	trs := taskruninformer.Get(ctx)
	crs := customruninformer.Get(ctx)
	r := &Reconciler{
		PipelineRuns: prs.Lister(), TaskRuns: trs.Lister(), CustomRuns: crs.Lister(),
		Tekton: pipelineclient.Get(ctx), Keys: &attest.NamespaceKeys{Kube: kubeclient.Get(ctx)},
		Recorder: recorder(ctx, logger),
	}
	impl := controller.NewContext(ctx, r, controller.ControllerOptions{WorkQueueName: AgentName, Logger: logger})
	r.LeaderAwareFuncs = kreconciler.LeaderAwareFuncs{
		PromoteFunc: func(b kreconciler.Bucket, enq func(kreconciler.Bucket, types.NamespacedName)) error {
			all, err := r.PipelineRuns.List(labels.Everything())
			if err != nil {
				return err
			}
			for _, pr := range all {
				if unsettled(pr) {
					enq(b, types.NamespacedName{Namespace: pr.Namespace, Name: pr.Name})
				}
			}
			return nil
		},
	}
	// The provenance reads neither PipelineRuns' nor TaskRuns' managedFields
	// and writes with merge patches, so the cache of every run in the
	// cluster (the largest thing this process holds) goes without them.
	// The CustomRun informer is the CustomRun reconciler's to transform.
	for _, inf := range []cache.SharedIndexInformer{prs.Informer(), trs.Informer()} {
		if err := inf.SetTransform(func(obj any) (any, error) {
			if m, ok := obj.(metav1.Object); ok {
				m.SetManagedFields(nil)
			}
			return obj, nil
		}); err != nil {
			logger.Warnw("runs are cached with their managedFields", "error", err)
		}
	}
	prs.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool { pr, ok := obj.(*pipelinev1.PipelineRun); return ok && unsettled(pr) },
		Handler:    controller.HandleAll(impl.Enqueue),
	})
	// A child's change wakes its PipelineRun (Tekton labels children
	// with tekton.dev/pipelineRun).
	parent := func(obj any) {
		if m, ok := obj.(interface{ GetLabels() map[string]string }); ok {
			if name := m.GetLabels()["tekton.dev/pipelineRun"]; name != "" {
				if o, ok := obj.(interface{ GetNamespace() string }); ok {
					impl.EnqueueKey(types.NamespacedName{Namespace: o.GetNamespace(), Name: name})
				}
			}
		}
	}
	done := func(obj any) bool {
		switch o := obj.(type) {
		case *pipelinev1.TaskRun:
			return o.IsDone()
		case *v1beta1.CustomRun:
			return o.IsDone()
		}
		return false
	}
	for _, inf := range []cache.SharedIndexInformer{trs.Informer(), crs.Informer()} {
		inf.AddEventHandler(cache.FilteringResourceEventHandler{FilterFunc: done, Handler: controller.HandleAll(parent)})
	}
	return impl
}

// unsettled: finished, and no provenance decision recorded yet.
func unsettled(pr *pipelinev1.PipelineRun) bool {
	return pr.IsDone() && pr.Annotations[Annotation] == ""
}

func recorder(ctx context.Context, logger interface{ Infof(string, ...any) }) record.EventRecorder {
	if rec := controller.GetEventRecorder(ctx); rec != nil {
		return rec
	}
	b := record.NewBroadcaster()
	b.StartLogging(logger.Infof)
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kubeclient.Get(ctx).CoreV1().Events("")})
	go func() { <-ctx.Done(); b.Shutdown() }()
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: AgentName})
}
