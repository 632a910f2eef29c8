package attest

import (
	"context"
	"time"
)

// notYet are the reasons that may only mean "not signed yet": Chains signs
// and attests an image a moment after the TaskRun that built it ends.
var notYet = map[string]bool{ReasonNotSigned: true, ReasonNoProvenance: true}

// AwaitImage runs VerifyImage until the image passes, fails for a reason
// that waiting cannot change, or timeout passes (then the last report
// stands). It asks again every poll (2 s when zero) and tells progress
// what it is waiting for.
func AwaitImage(ctx context.Context, p ImagePolicy, timeout, poll time.Duration, progress func(ImageReport)) (ImageReport, error) {
	if poll <= 0 {
		poll = 2 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		rep, err := VerifyImage(ctx, p)
		if err != nil || rep.Pass || !notYet[rep.Reason] || time.Now().After(deadline) {
			return rep, err
		}
		if progress != nil {
			progress(rep)
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(poll):
		}
	}
}
