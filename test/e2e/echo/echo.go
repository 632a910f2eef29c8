// Package echo is the test-only kind the e2e contract tests drive. It
// never ships: the controller the e2e tests start is
// test/e2e/cmd/e2e-controller, cmd/controller's process with Echo added to
// the real list of kinds.
//
//	message        required; returned as result "message"
//	sleep          a Go duration to work for before answering (honours cancel)
//	fail-attempts  refuse the first N attempts (to exercise retries)
//	tags           an array, only so that type checks have something to bite
package echo

import (
	"context"
	"strconv"
	"time"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

// Kind is the Echo kind.
type Kind struct{}

func (Kind) Name() string { return "Echo" }

func (Kind) Params() []kinds.Param {
	return []kinds.Param{
		{Name: "message", Required: true},
		{Name: "sleep"},
		{Name: "fail-attempts"},
		{Name: "tags", Type: v1beta1.ParamTypeArray},
	}
}

func (Kind) Plan(req kinds.Request) (kinds.Job, error) {
	msg := req.Params.String("message", "")
	sleep, err := time.ParseDuration(req.Params.String("sleep", "0s"))
	if err != nil || sleep < 0 {
		return nil, kinds.Invalid("sleep", "must be a duration like 3s, got %q", req.Params.String("sleep", ""))
	}
	failN, err := strconv.Atoi(req.Params.String("fail-attempts", "0"))
	if err != nil || failN < 0 {
		return nil, kinds.Invalid("fail-attempts", "must be a whole number, got %q", req.Params.String("fail-attempts", ""))
	}
	return func(ctx context.Context) (results.Results, error) {
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		attempt := results.Result{Name: "attempt", Value: strconv.Itoa(req.Attempt)}
		if req.Attempt < failN {
			return nil, kinds.Deny("EchoRefused", results.Results{attempt}, "attempt %d refused on purpose", req.Attempt)
		}
		return results.Results{{Name: "message", Value: msg}, attempt}, nil
	}, nil
}
