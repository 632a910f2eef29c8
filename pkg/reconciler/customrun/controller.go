package customrun

import (
	"context"
	"time"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	customruninformer "github.com/tektoncd/pipeline/pkg/client/injection/informers/pipeline/v1beta1/customrun"
	customrunreconciler "github.com/tektoncd/pipeline/pkg/client/injection/reconciler/pipeline/v1beta1/customrun"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/injection"
	"knative.dev/pkg/logging"
	kreconciler "knative.dev/pkg/reconciler"
)

// AgentName is the component name on Events and in leader-election leases.
const AgentName = "modelguard-controller"

// Options tune the controller; the zero value is sensible.
type Options struct {
	// Workers is the number of reconcile workers (default 32). Reconciles
	// never block on a kind's work, but each waits for its status write:
	// under a burst the API server answers in tens of milliseconds, and 8
	// workers held 5,000 runs to ~130 status writes a second, well behind
	// the creations; at 32 the controller keeps up with the API server.
	Workers int
	// MaxJobs caps kind Jobs running at once (default 64); more wait.
	MaxJobs int
	// StartGrace is how long the reconcile that starts a job waits for it
	// before returning (default 5ms): long enough for a quick kind to finish
	// with one status write, too short to matter to the workqueue.
	StartGrace time.Duration
	Clock      clock.PassiveClock
}

// Kinds builds the kinds a controller serves from the injection context
// (which holds the Kubernetes clients they need).
type Kinds func(ctx context.Context) []kinds.Kind

// NewController returns the constructor sharedmain runs. The list of kinds
// is the caller's (pkg/kinds/all), so kinds can import pkg/kinds without a
// cycle and tests can add their own.
func NewController(opts Options, kindsFor Kinds) injection.ControllerConstructor {
	return func(ctx context.Context, _ configmap.Watcher) *controller.Impl {
		ks := kindsFor(ctx)
		if opts.Workers <= 0 {
			opts.Workers = 32
		}
		if opts.MaxJobs <= 0 {
			opts.MaxJobs = 64
		}
		if opts.StartGrace == 0 {
			opts.StartGrace = 5 * time.Millisecond
		}
		if opts.Clock == nil {
			opts.Clock = clock.RealClock{}
		}
		r := &Reconciler{Clock: opts.Clock, kinds: map[string]kinds.Kind{}, stats: newStats()}
		for _, k := range ks {
			if _, dup := r.kinds[k.Name()]; dup {
				logging.FromContext(ctx).Fatalf("kind %q is registered twice", k.Name())
			}
			r.kinds[k.Name()] = k
		}
		var impl *controller.Impl
		impl = customrunreconciler.NewImpl(ctx, r, func(*controller.Impl) controller.Options {
			return controller.Options{
				AgentName:         AgentName,
				PromoteFilterFunc: ours,
				// A replica that loses leadership stops its jobs; the new
				// leader starts the attempts again from status.
				DemoteFunc: func(kreconciler.Bucket) { r.jobs.forgetAll() },
			}
		})
		// The generated NewImpl ignores Options.Concurrency; set it here.
		impl.Concurrency = opts.Workers
		r.jobs = newJobs(ctx, opts.MaxJobs, opts.StartGrace, impl.EnqueueKey)

		inf := customruninformer.Get(ctx).Informer()
		if err := inf.SetTransform(dropManagedFields); err != nil {
			logging.FromContext(ctx).Warnw("CustomRuns are cached with their managedFields", "error", err)
		}
		inf.AddEventHandler(cache.FilteringResourceEventHandler{
			FilterFunc: ours,
			Handler: cache.ResourceEventHandlerFuncs{
				AddFunc:    impl.Enqueue,
				UpdateFunc: controller.PassNew(impl.Enqueue),
				DeleteFunc: func(obj any) { forgetDeleted(r.jobs, obj) },
			},
		})
		return impl
	}
}

// dropManagedFields keeps the cached CustomRuns small: the reconciler
// never reads managedFields, they are a good part of each object, and an
// update or status write without them keeps the server's (a nil list is
// "not given"; only an empty one would reset them).
func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

func forgetDeleted(js *jobs, obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if run, ok := obj.(*v1beta1.CustomRun); ok {
		js.forget(types.NamespacedName{Namespace: run.Namespace, Name: run.Name})
	}
}
