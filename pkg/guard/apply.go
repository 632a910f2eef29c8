package guard

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// Actions a guard takes on one object.
const (
	Created   = "created"
	Changed   = "changed"
	Unchanged = "unchanged"
	Deleted   = "deleted"
	// Foreign is a NetworkPolicy or RoleBinding in the namespace that the
	// guard did not make: it may open what the guard closes.
	Foreign = "foreign"
)

// Change is what happened (or, in a dry run, would happen) to one object.
type Change struct {
	Ref    string `json:"ref"`
	Action string `json:"action"`
	// Diff is a readable difference for Changed objects (what the
	// cluster has, -, against what the guard wants, +).
	Diff string `json:"diff,omitempty"`
}

// ErrNamespaceNotFound is returned when the target namespace is missing:
// the guard locks a namespace down, it does not create one.
var ErrNamespaceNotFound = errors.New("namespace not found")

// Plan computes the changes that Apply would make, writing nothing. For an
// existing object it asks the API server for a server-side-apply dry run,
// so defaults and other managers' fields are compared exactly as the
// server would merge them. When from is not empty, the target namespace
// must have opted in to guards run from that namespace (see OptInLabel).
func (e *Engine) Plan(ctx context.Context, s *Spec, from string) ([]Change, error) {
	return e.run(ctx, s, from, false)
}

// Apply makes the namespace match the Spec: objects that differ are
// applied (one field manager, conflicts forced, so hand edits are
// reverted), objects the guard made earlier and no longer wants are
// deleted, and objects already right are not written at all.
func (e *Engine) Apply(ctx context.Context, s *Spec, from string) ([]Change, error) {
	return e.run(ctx, s, from, true)
}

func (e *Engine) run(ctx context.Context, s *Spec, from string, write bool) ([]Change, error) {
	ns, limits, err := e.target(ctx, s.Namespace, from)
	if err != nil {
		return nil, err
	}
	var sensitive []Sensitive
	if len(s.Egress) > 0 {
		if sensitive, err = e.sensitiveEgress(ctx); err != nil {
			return nil, err
		}
	}
	if err := limits.Apply(s, sensitive); err != nil {
		return nil, err
	}
	objs, err := Build(s)
	if err != nil {
		return nil, err
	}
	current, err := e.current(ctx, s.Namespace)
	if err != nil {
		return nil, err
	}
	current[namespaceGVR.Resource+"/"+ns.GetName()] = ns
	// Policy before access: NetworkPolicies, quota and limits are in place
	// before any RoleBinding grants anyone anything.
	var policy, access []Object
	for _, o := range objs {
		if o.GVR.Resource == "rolebindings" {
			access = append(access, o)
		} else {
			policy = append(policy, o)
		}
	}
	changes, err := e.sync(ctx, policy, current, write)
	if err != nil {
		return changes, err
	}
	more, err := e.sync(ctx, access, current, write)
	changes = append(changes, more...)
	if err != nil {
		return changes, err
	}
	pruned, err := e.prune(ctx, s.Namespace, objs, current, limits, write)
	return append(changes, pruned...), err
}

// current lists, in parallel, every object of the kinds the guard manages
// in the namespace, keyed "resource/name". One list per kind replaces a
// GET per object, and the same lists find objects to prune.
func (e *Engine) current(ctx context.Context, ns string) (map[string]*unstructured.Unstructured, error) {
	lists := make([]*unstructured.UnstructuredList, len(namespacedKinds))
	errs := make([]error, len(namespacedKinds))
	var wg sync.WaitGroup
	for i, gvr := range namespacedKinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lists[i], errs[i] = e.listBounded(ctx, e.Dynamic.Resource(gvr).Namespace(ns))
			if errs[i] != nil {
				errs[i] = fmt.Errorf("list %s in %s: %w", gvr.Resource, ns, errs[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := map[string]*unstructured.Unstructured{}
	for i, l := range lists {
		for j := range l.Items {
			out[namespacedKinds[i].Resource+"/"+l.Items[j].GetName()] = &l.Items[j]
		}
	}
	return out, nil
}

// The guard lists every object of its kinds in a namespace it is asked to
// guard, whoever filled it: in pages, up to a cap, so a namespace holding a
// hundred thousand RoleBindings costs a clear error, not the controller's
// memory. A guarded namespace holds a few dozen.
const (
	defaultListPage = 500
	defaultListCap  = 5000
)

// ErrTooManyObjects: a namespace holds more objects of one kind than the
// guard reads.
var ErrTooManyObjects = errors.New("too many objects")

func (e *Engine) listBounded(ctx context.Context, ri dynamic.ResourceInterface) (*unstructured.UnstructuredList, error) {
	page, limit := int64(e.ListPage), e.ListCap
	if page <= 0 {
		page = defaultListPage
	}
	if limit <= 0 {
		limit = defaultListCap
	}
	out := &unstructured.UnstructuredList{}
	opts := metav1.ListOptions{Limit: page}
	for {
		got, err := ri.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		if len(out.Items)+len(got.Items) > limit {
			return nil, fmt.Errorf("%w: more than %d, the most the guard reads of one kind", ErrTooManyObjects, limit)
		}
		out.Items = append(out.Items, got.Items...)
		if opts.Continue = got.GetContinue(); opts.Continue == "" {
			return out, nil
		}
	}
}

// sync plans (and with write, applies) objects concurrently: they are
// independent, and a guard of a dozen objects then costs a round trip or
// two instead of a dozen.
func (e *Engine) sync(ctx context.Context, objs []Object, current map[string]*unstructured.Unstructured, write bool) ([]Change, error) {
	changes := make([]Change, len(objs))
	errs := make([]error, len(objs))
	var wg sync.WaitGroup
	for i, o := range objs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			changes[i], errs[i] = e.syncOne(ctx, o, current[o.GVR.Resource+"/"+o.Obj.GetName()], write)
		}()
	}
	wg.Wait()
	return changes, errors.Join(errs...)
}

func (e *Engine) syncOne(ctx context.Context, o Object, current *unstructured.Unstructured, write bool) (Change, error) {
	c := Change{Ref: o.Ref(), Action: Created}
	res := e.resource(o)
	if current != nil {
		merged, err := res.Apply(ctx, o.Obj.GetName(), o.Obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return c, fmt.Errorf("dry-run apply %s: %w", c.Ref, err)
		}
		c.Action = Unchanged
		if d := cmp.Diff(comparable(current), comparable(merged)); d != "" {
			c.Action, c.Diff = Changed, d
		}
	}
	if write && c.Action != Unchanged {
		if _, err := res.Apply(ctx, o.Obj.GetName(), o.Obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return c, fmt.Errorf("apply %s: %w", c.Ref, err)
		}
	}
	return c, nil
}

func (e *Engine) resource(o Object) dynamic.ResourceInterface {
	if o.GVR == namespaceGVR {
		return e.Dynamic.Resource(o.GVR)
	}
	return e.Dynamic.Resource(o.GVR).Namespace(o.Obj.GetNamespace())
}

// prune deletes what this guard applied earlier and no longer wants (an
// ingress source removed): objects with a name the guard gives (Owns) and
// its label. Any other NetworkPolicy or RoleBinding it does not want is
// reported as Foreign, unless a cluster admin expects it
// (AllowForeignAnnotation); the guard never deletes what is not its own.
func (e *Engine) prune(ctx context.Context, ns string, want []Object, current map[string]*unstructured.Unstructured, limits *Limits, write bool) ([]Change, error) {
	wanted := map[string]bool{}
	for _, o := range want {
		wanted[o.GVR.Resource+"/"+o.Obj.GetName()] = true
	}
	var out []Change
	for _, gvr := range namespacedKinds {
		for key, item := range current {
			if !strings.HasPrefix(key, gvr.Resource+"/") || wanted[key] {
				continue
			}
			c := Change{Ref: item.GetKind() + "/" + item.GetName(), Action: Deleted}
			if !Owns(gvr.Resource, item.GetName()) || item.GetLabels()[GuardLabel] != "true" {
				if foreignKinds[gvr.Resource] && !limits.Foreign[c.Ref] {
					out = append(out, Change{Ref: c.Ref, Action: Foreign})
				}
				continue
			}
			if write {
				err := e.Dynamic.Resource(gvr).Namespace(ns).Delete(ctx, item.GetName(), metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					return out, fmt.Errorf("delete %s: %w", c.Ref, err)
				}
			}
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// comparable drops what the server changes on every write and what the
// guard does not decide, leaving the content two objects should share.
func comparable(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy().Object
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "creationTimestamp", "uid"} {
		unstructured.RemoveNestedField(c, "metadata", f)
	}
	unstructured.RemoveNestedField(c, "status")
	return c
}

// Summary counts changes by action.
func Summary(changes []Change) map[string]int {
	out := map[string]int{Created: 0, Changed: 0, Unchanged: 0, Deleted: 0, Foreign: 0}
	for _, c := range changes {
		out[c.Action]++
	}
	return out
}
