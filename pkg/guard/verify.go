package guard

import (
	"context"
	"errors"
	"fmt"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Access is one question of the access matrix: may this persona do this?
type Access struct {
	Verb        string `json:"verb"`
	Group       string `json:"group,omitempty"`
	Resource    string `json:"resource"`
	Subresource string `json:"subresource,omitempty"`
}

func (a Access) String() string {
	r := a.Resource
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	if a.Group != "" {
		r += "." + a.Group
	}
	return a.Verb + " " + r
}

// Expectation is the intended answer per profile.
type Expectation struct {
	Access
	Allow map[Profile]bool
}

// Check is one answered question.
type Check struct {
	Persona Persona `json:"persona"`
	Subject string  `json:"subject"`
	Access
	Want bool `json:"want"`
	Got  bool `json:"got"`
}

// OK reports whether the cluster answered as intended.
func (c Check) OK() bool { return c.Want == c.Got }

// Verify asks the API server, through LocalSubjectAccessReviews, every question
// of the access matrix for every persona that has subjects, as a member of
// the persona's first group (or as its first user). The answers come from
// the cluster's real authorizer, so they prove what the RoleBindings and
// roles actually grant, not what the builders meant them to.
func (e *Engine) Verify(ctx context.Context, s *Spec) ([]Check, error) {
	var checks []Check
	for _, p := range Personas {
		subj := s.Subjects[p]
		if len(subj.Groups)+len(subj.Users) == 0 {
			continue
		}
		for _, x := range Matrix(p) {
			checks = append(checks, Check{Persona: p, Subject: subjectOf(subj), Access: x.Access, Want: x.Allow[s.Profile]})
		}
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16) // a burst, not a flood, of reviews
	for i := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			checks[i].Got, errs[i] = e.allowed(ctx, s.Namespace, s.Subjects[checks[i].Persona], checks[i].Persona, checks[i].Access)
		}()
	}
	wg.Wait()
	return checks, errors.Join(errs...)
}

// subjectOf names who the matrix asks about: a member of the persona's
// first group, or else its first user.
func subjectOf(subj Subjects) string {
	if len(subj.Groups) > 0 {
		return "group:" + subj.Groups[0]
	}
	return "user:" + subj.Users[0]
}

func (e *Engine) allowed(ctx context.Context, ns string, subj Subjects, p Persona, a Access) (bool, error) {
	spec := authorizationv1.SubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource,
		},
	}
	if len(subj.Groups) > 0 {
		spec.User, spec.Groups = "modelguard-verify:"+string(p), subj.Groups[:1]
	} else {
		spec.User = subj.Users[0]
	}
	// A LocalSubjectAccessReview asks the same authorizer about one
	// namespace, so whoever runs the guard needs the right to ask only in
	// the namespace it guards, not cluster-wide.
	sar, err := e.Kube.AuthorizationV1().LocalSubjectAccessReviews(ns).Create(ctx, &authorizationv1.LocalSubjectAccessReview{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns}, Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("LocalSubjectAccessReview %s %s: %w", p, a, err)
	}
	return sar.Status.Allowed, nil
}

// Mismatches returns the checks whose answer was not the intended one.
func Mismatches(checks []Check) []Check {
	var out []Check
	for _, c := range checks {
		if !c.OK() {
			out = append(out, c)
		}
	}
	return out
}
