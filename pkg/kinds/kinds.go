// Package kinds is the contract between the CustomRun reconciler and the
// custom-task kinds it serves (NamespaceGuard, ImageScan, ...).
//
// A kind declares its params, turns validated params into a Job, and the Job
// does the work and returns results. Everything Tekton-specific (conditions,
// timeouts, cancellation, retries, events, metrics) lives in
// pkg/reconciler/customrun, written once; a kind never sees a CustomRun.
package kinds

import (
	"context"
	"fmt"
	"time"

	"github.com/modelguard/modelguard/pkg/results"
)

// APIVersion is the apiVersion every modelguard custom task is referenced by:
//
//	taskRef: {apiVersion: modelguard.dev/v1alpha1, kind: NamespaceGuard}
const APIVersion = "modelguard.dev/v1alpha1"

// Limits that keep a CustomRun inside what etcd and Tekton accept. A param
// or result larger than these is a mistake upstream (a whole manifest or a
// log passed by value), so it is refused with a message, not truncated.
const (
	// DefaultMaxParamBytes bounds one param value (all of its elements).
	DefaultMaxParamBytes = 64 << 10
)

// Kind is one custom-task kind.
type Kind interface {
	// Name is the CustomRun kind, e.g. "NamespaceGuard".
	Name() string
	// Params declares every param the kind accepts. The reconciler rejects
	// unknown, missing, mistyped and oversized params before Plan is called.
	Params() []Param
	// Plan checks the values (formats, ranges, combinations) and returns the
	// work to do. It must be quick and must not do I/O. Problems are
	// reported as *ParamError so the run fails naming the param.
	Plan(req Request) (Job, error)
}

// Request is what a kind knows about the run it serves.
type Request struct {
	// Namespace is the CustomRun's namespace: the only namespace a kind may
	// read credentials from.
	Namespace string
	// Name is the CustomRun's name, for logs and object names.
	Name string
	// Attempt counts from 0 and grows by one for every retry.
	Attempt int
	// Started is when this attempt started (the CustomRun's
	// status.startTime). It is durable: a Job repeated after a controller
	// restart sees the same time, so a wait measured from it (a watch's
	// window) does not start over.
	Started time.Time
	Params  Values
	// Progress, when a Job calls it, records where the work is; the
	// controller writes the latest value into the run's status.extraFields
	// (at most every few seconds). It must encode to small JSON. Nil-safe:
	// see ReportProgress.
	Progress func(v any)
	// Idle waits d, or until ctx ends, without holding one of the
	// controller's job slots, for Jobs that mostly wait (a watch between
	// polls) so they never starve the others. It reports whether it waited
	// in full. Nil (in tests) means: wait as you would without it.
	Idle func(ctx context.Context, d time.Duration) bool
}

// ReportProgress calls req.Progress when there is one.
func (req Request) ReportProgress(v any) {
	if req.Progress != nil {
		req.Progress(v)
	}
}

// Job does the work of one attempt. It runs off the reconcile workers and
// may block on I/O; it must return promptly once ctx is done (cancel,
// timeout, controller shutdown). A Job may be run again for the same attempt
// when the controller restarts mid-run, so it must be safe to repeat.
//
// A nil error means success. Return *Failure when the work ran and the
// answer is "no" (a policy said no, a check found a problem); any other
// error means the work could not be done.
type Job func(ctx context.Context) (results.Results, error)

// Failure is a Job outcome where the work was done and the answer is no:
// the run fails with Reason, and Results are still published so a pipeline
// (and a person) can see why.
type Failure struct {
	Reason  string
	Message string
	Results results.Results
}

func (f *Failure) Error() string { return fmt.Sprintf("%s: %s", f.Reason, f.Message) }

// Deny builds a *Failure.
func Deny(reason string, rs results.Results, format string, args ...any) *Failure {
	return &Failure{Reason: reason, Message: fmt.Sprintf(format, args...), Results: rs}
}
