package attest

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Verified says what Await found.
type Verified struct {
	Signatures   int
	Attestations []Attestation
}

// Await waits up to timeout for the image to carry a signature and an
// attestation that verify with the key. Chains signs an image a moment
// after the TaskRun that built it ends, so "not signed yet" is asked again
// every poll (2 s when zero) and reported through progress; a signature by
// another key, or any other error, ends the wait at once.
func Await(ctx context.Context, ref string, o VerifyOptions, timeout, poll time.Duration, progress func(error)) (Verified, error) {
	if poll <= 0 {
		poll = 2 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		n, err := Signatures(ctx, ref, o)
		var atts []Attestation
		if err == nil {
			atts, err = Attestations(ctx, ref, o)
		}
		switch {
		case err == nil:
			return Verified{Signatures: n, Attestations: atts}, nil
		case !errors.Is(err, ErrNotSigned) && !errors.Is(err, ErrNotAttested):
			return Verified{}, err
		case time.Now().After(deadline):
			return Verified{}, fmt.Errorf("after %s: %w", timeout, err)
		}
		if progress != nil {
			progress(err)
		}
		select {
		case <-ctx.Done():
			return Verified{}, ctx.Err()
		case <-time.After(poll):
		}
	}
}
