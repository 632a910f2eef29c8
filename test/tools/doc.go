// Package tools builds, once per machine, every binary and image the local
// cluster runs, from the Go module proxy and the host's Debian packages:
// etcd, the Kubernetes binaries, the Tekton controller and its pod images,
// Tekton Chains, tkn, ko and a CNCF distribution registry. Each is cached
// by version under CacheRoot (so a version bump builds anew and a second
// run starts in seconds), built under one file lock (so concurrent test
// binaries never see half a binary), in a wrapper module of its own where
// upstream's go.mod needs its replace directives repeated.
//
// It knows how to build; test/localcluster knows how to run.
package tools
