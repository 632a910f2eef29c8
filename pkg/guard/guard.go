// Package guard locks down a namespace that serves models: RoleBindings of
// persona roles to groups, NetworkPolicies, a ResourceQuota (GPUs
// included), a LimitRange and Pod Security labels. The builders are pure
// (Spec in, objects out); Engine applies them with server-side apply,
// reports drift, and proves the result with SubjectAccessReviews.
package guard

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Engine applies, diffs and verifies guards against a cluster.
type Engine struct {
	Dynamic dynamic.Interface
	Kube    kubernetes.Interface
	// ListPage and ListCap bound what the guard lists of one kind in the
	// namespace: pages of ListPage (default 500), at most ListCap objects
	// (default 5000).
	ListPage, ListCap int
}

// Mode is what a guard run does.
type Mode string

const (
	// ModeApply makes the namespace match, then proves access with the matrix.
	ModeApply Mode = "apply"
	// ModeDiff is a dry run: it reports what apply would change.
	ModeDiff Mode = "diff"
	// ModeVerify changes nothing and fails on drift or a matrix mismatch.
	ModeVerify Mode = "verify"
)

// ParseMode reads apply, diff or verify.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeApply, ModeDiff, ModeVerify:
		return m, nil
	}
	return "", fmt.Errorf("%s: want apply, diff or verify", quote(s))
}

// Run does what mode asks: plan or apply, then (except for diff) verify
// the access matrix. from is the namespace asking on behalf of a pipeline
// (the target must have opted in for it), or "" for a person's own
// credentials.
func (e *Engine) Run(ctx context.Context, s *Spec, mode Mode, from string) (*Report, error) {
	r := &Report{Namespace: s.Namespace, Profile: s.Profile, Mode: mode}
	var err error
	if mode == ModeApply {
		r.Changes, err = e.Apply(ctx, s, from)
	} else {
		r.Changes, err = e.Plan(ctx, s, from)
	}
	r.Profile = s.Profile // the namespace's, when the run gave none
	if err != nil || mode == ModeDiff {
		return r, err
	}
	r.Checks, err = e.Verify(ctx, s)
	if err == nil && mode == ModeApply && len(r.Refs(Created))+len(r.Refs(Changed)) > 0 {
		err = e.settle(ctx, s, r.Checks)
	}
	return r, err
}
