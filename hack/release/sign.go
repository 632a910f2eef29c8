package main

import (
	"errors"
	"fmt"
	"os"
)

// keySigner loads a cosign private key file for Run.
//
// The signing itself is pkg/attest's (issue 13 adds Signer.Sign there);
// until it is on main this returns an error rather than sign with a
// second implementation.
func keySigner(path string, password []byte, insecure bool) (Signer, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return nil, errors.New("signing key given, but pkg/attest has no Signer yet to sign with")
}
