//go:build tools

// Package tools pins the libraries the later engines build on (Chains'
// formats and signers, cosign, go-containerregistry) at the versions this
// project is tested with, before any package imports them, so `go mod
// tidy` keeps them and everyone resolves the same graph.
package tools

import (
	_ "github.com/google/go-containerregistry/pkg/v1/mutate"
	_ "github.com/sigstore/cosign/v2/pkg/oci"
	_ "github.com/tektoncd/chains/pkg/chains/formats"
)
