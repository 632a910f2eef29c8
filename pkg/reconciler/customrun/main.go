package customrun

import (
	"context"
	"flag"
	"net/http"
	"os"
	"strconv"
	"time"

	"knative.dev/pkg/injection"
	"knative.dev/pkg/injection/sharedmain"
	"knative.dev/pkg/signals"
)

// Main runs the controller process: flags, REST config, knative sharedmain
// (leader election, logging and observability config, informers), the
// CustomRun reconciler and the others given (the PipelineRun provenance
// one). It is here rather than in cmd/controller so the e2e tests can run
// the very same process with a test-only kind added.
func Main(kindsFor Kinds, others ...injection.ControllerConstructor) {
	var opts Options
	flag.IntVar(&opts.Workers, "workers", 32, "reconcile workers")
	flag.IntVar(&opts.MaxJobs, "max-jobs", 64, "kind jobs (scans, pushes, API calls) running at once")
	flag.DurationVar(&opts.StartGrace, "start-grace", 5*time.Millisecond, "how long the reconcile that starts a job waits for it to finish (-1ns: never)")
	cfg := injection.ParseAndGetRESTConfigOrDie()
	// client-go's default of 5 QPS would turn a burst of CustomRuns into
	// minutes of client-side throttling, and a NamespaceGuard alone makes
	// ~100 requests (75 of them SubjectAccessReviews). The API server's
	// priority and fairness is the real protection; --kube-api-qps and
	// --kube-api-burst still win when given.
	if cfg.QPS == 0 {
		cfg.QPS = 500
	}
	if cfg.Burst == 0 {
		cfg.Burst = 1000
	}

	ctx := signals.NewContext()
	// sharedmain would serve probes on the fixed port 8080; serve them on
	// PROBES_PORT instead so the controller can share a host with others
	// (the Tekton controller, a second replica in tests).
	ctx = sharedmain.WithHealthProbesDisabled(ctx)
	go serveProbes(ctx, envInt("PROBES_PORT", 8080))

	sharedmain.MainWithConfig(ctx, AgentName, cfg, append([]injection.ControllerConstructor{NewController(opts, kindsFor)}, others...)...)
}

func serveProbes(ctx context.Context, port int) {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) {
		if ctx.Err() != nil {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	mux.HandleFunc("/health", ok)
	mux.HandleFunc("/readiness", ok)
	srv := &http.Server{Addr: ":" + strconv.Itoa(port), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		// Without probes the kubelet would restart us forever; say why.
		os.Stderr.WriteString("probes server: " + err.Error() + "\n")
		os.Exit(1)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
