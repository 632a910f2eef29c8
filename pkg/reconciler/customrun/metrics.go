package customrun

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"knative.dev/pkg/apis"
)

// stats are the controller's own metrics. They go through OpenTelemetry's
// global MeterProvider, which knative's sharedmain points at Prometheus
// when config-observability says `metrics-protocol: prometheus`, so they
// appear next to the workqueue and client metrics on the same endpoint:
//
//	modelguard_customruns_total{kind, outcome}
//	modelguard_customrun_duration_seconds{kind, outcome}
//	modelguard_reconciles_total{kind}
type stats struct {
	runs       metric.Int64Counter
	duration   metric.Float64Histogram
	reconciles metric.Int64Counter
}

func newStats() *stats {
	m := otel.Meter("github.com/modelguard/modelguard/pkg/reconciler/customrun")
	s := &stats{}
	// Creating instruments only fails on invalid names, which are constants
	// here; a nil-safe no-op instrument is returned in that case.
	s.runs, _ = m.Int64Counter("modelguard.customruns",
		metric.WithDescription("CustomRuns finished, by kind and outcome (succeeded, failed, cancelled, timed_out, invalid)"))
	s.duration, _ = m.Float64Histogram("modelguard.customrun.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Time from CustomRun creation to its final condition"),
		metric.WithExplicitBucketBoundaries(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800, 3600))
	s.reconciles, _ = m.Int64Counter("modelguard.reconciles",
		metric.WithDescription("Reconciles of modelguard CustomRuns; a steady climb for finished runs means a requeue loop"))
	return s
}

func (s *stats) reconciled(ctx context.Context, kind string) {
	s.reconciles.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind)))
}

func (s *stats) finished(ctx context.Context, kind string, c *apis.Condition, created, now time.Time) {
	attrs := metric.WithAttributes(attribute.String("kind", kind), attribute.String("outcome", outcomeOf(c)))
	s.runs.Add(ctx, 1, attrs)
	s.duration.Record(ctx, now.Sub(created).Seconds(), attrs)
}

func outcomeOf(c *apis.Condition) string {
	switch {
	case c.IsTrue():
		return "succeeded"
	case c.Reason == "CustomRunCancelled":
		return "cancelled"
	case c.Reason == "CustomRunTimedOut":
		return "timed_out"
	case c.Reason == ReasonInvalidParams || c.Reason == ReasonUnknownKind || c.Reason == ReasonUnsupportedRef || c.Reason == "CustomRunWorkspaceNotSupported":
		return "invalid"
	}
	return "failed"
}
