// Package deploy puts a modelcar in front of users for a smoke test: a
// Deployment whose init container copies /models out of the model image
// (as KServe's storage initializer would) and whose server, modelguard's
// demo model server, serves the copy; a Service in front. It applies them
// with server-side apply, waits until the readiness probe — which asks the
// server about the model — passes, and asks the server which files it
// serves. Real runtimes (vLLM, Triton) are deployed through KServe; this
// proves the image itself: pullable, complete, readable by a non-root uid
// under the restricted Pod Security profile.
package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/modelguard/modelguard/pkg/modelserver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// FieldManager owns the fields Apply sets.
const FieldManager = "modelguard"

// Engine applies and watches a Spec's objects.
type Engine struct {
	Kube kubernetes.Interface
	Poll time.Duration // default 500ms
}

// Result is a deployment that came up.
type Result struct {
	Deployment string // namespace/name
	ServiceURL string // in-cluster URL of the model's metadata
	Ready      int32
	// Served is what the server says it loaded: the model's content digest.
	Served modelserver.Model
}

// Run applies the objects, waits until every replica is ready, and asks
// one of them what it serves.
func (e *Engine) Run(ctx context.Context, s Spec, timeout time.Duration) (*Result, error) {
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	dep, svc := Objects(s)
	for _, obj := range []any{svc, dep} {
		if err := e.apply(ctx, obj); err != nil {
			return nil, err
		}
	}
	ready, err := e.wait(ctx, s, timeout)
	if err != nil {
		return nil, err
	}
	res := &Result{Deployment: s.Namespace + "/" + s.Name, Ready: ready,
		ServiceURL: fmt.Sprintf("http://%s.%s.svc/v2/models/%s", s.Name, s.Namespace, s.Name)}
	if res.Served, err = e.ask(ctx, s); err != nil {
		return nil, err
	}
	return res, nil
}

func (e *Engine) apply(ctx context.Context, obj any) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptr.To(true)}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		_, err = e.Kube.AppsV1().Deployments(o.Namespace).Patch(ctx, o.Name, types.ApplyPatchType, body, opts)
		if err != nil {
			return fmt.Errorf("apply Deployment %s/%s: %w", o.Namespace, o.Name, err)
		}
	case *corev1.Service:
		_, err = e.Kube.CoreV1().Services(o.Namespace).Patch(ctx, o.Name, types.ApplyPatchType, body, opts)
		if err != nil {
			return fmt.Errorf("apply Service %s/%s: %w", o.Namespace, o.Name, err)
		}
	}
	return nil
}

// wait polls the Deployment until the current generation has every
// replica ready, or says why not when time runs out.
func (e *Engine) wait(ctx context.Context, s Spec, timeout time.Duration) (int32, error) {
	poll := e.Poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	deadline := time.Now().Add(timeout)
	for {
		d, err := e.Kube.AppsV1().Deployments(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			return 0, fmt.Errorf("read Deployment %s/%s: %w", s.Namespace, s.Name, err)
		}
		st := d.Status
		if st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == s.Replicas && st.ReadyReplicas == s.Replicas && st.Replicas == s.Replicas {
			return st.ReadyReplicas, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("Deployment %s/%s not ready after %s (%d/%d ready): %s",
				s.Namespace, s.Name, timeout, st.ReadyReplicas, s.Replicas, e.whyNot(ctx, s))
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// maxListed bounds one list of pods or events: the Deployment runs a few
// replicas, and a diagnosis needs the latest events, not all of them.
const maxListed = 500

func podsOf(s Spec) metav1.ListOptions {
	return metav1.ListOptions{LabelSelector: labels.SelectorFromSet(map[string]string{LabelName: s.Name}).String(), Limit: maxListed}
}

// maxModelAnswer bounds the model server's answer: the image being
// deployed runs it, so its size is the image author's choice. A model's
// metadata is a few hundred bytes.
const maxModelAnswer = 64 << 10

// askPod reads the model's metadata from one pod, at most maxModelAnswer
// bytes of it.
func (e *Engine) askPod(ctx context.Context, s Spec, pod string) ([]byte, error) {
	rc, err := e.Kube.CoreV1().Pods(s.Namespace).ProxyGet("http", pod, fmt.Sprint(s.Port), "/v2/models/"+s.Name, nil).Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxModelAnswer+1))
	if err == nil && len(raw) > maxModelAnswer {
		err = fmt.Errorf("the answer is larger than %d bytes", maxModelAnswer)
	}
	return raw, err
}

// whyNot summarises what keeps the pods from being ready, e.g.
// "pod x: model: ImagePullBackOff", or the ReplicaSet's refusal (a quota
// or Pod Security admission error).
func (e *Engine) whyNot(ctx context.Context, s Spec) string {
	var why []string
	pods, err := e.Kube.CoreV1().Pods(s.Namespace).List(ctx, podsOf(s))
	if err == nil {
		for _, p := range pods.Items {
			for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
				switch {
				case cs.State.Waiting != nil && cs.State.Waiting.Reason != "PodInitializing":
					why = append(why, fmt.Sprintf("pod %s (%s): %s: %s %s", p.Name, p.Status.PodIP, cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message))
				case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
					why = append(why, fmt.Sprintf("pod %s: %s exited %d: %s", p.Name, cs.Name, cs.State.Terminated.ExitCode, cs.State.Terminated.Message))
				case !cs.Ready && cs.State.Running != nil:
					why = append(why, fmt.Sprintf("pod %s (%s): %s running but not ready", p.Name, p.Status.PodIP, cs.Name))
				}
			}
		}
	}
	// The namespace's events are anyone's: one page is enough for a
	// diagnosis, and bounds what is read.
	events, err := e.Kube.CoreV1().Events(s.Namespace).List(ctx, metav1.ListOptions{Limit: maxListed})
	if err == nil {
		sort.Slice(events.Items, func(i, j int) bool { return events.Items[i].LastTimestamp.Before(&events.Items[j].LastTimestamp) })
		for _, ev := range events.Items {
			if ev.Type == corev1.EventTypeWarning && strings.HasPrefix(ev.InvolvedObject.Name, s.Name) {
				why = append(why, ev.InvolvedObject.Kind+" "+ev.InvolvedObject.Name+": "+ev.Message)
			}
		}
	}
	if len(why) == 0 {
		return "no pod reports a reason yet"
	}
	if len(why) > 5 {
		why = why[len(why)-5:]
	}
	return strings.Join(why, "; ")
}

// ask queries one ready pod, through the API server's pod proxy, for the
// model's metadata: the digest of the files it loaded.
func (e *Engine) ask(ctx context.Context, s Spec) (modelserver.Model, error) {
	var m modelserver.Model
	pods, err := e.Kube.CoreV1().Pods(s.Namespace).List(ctx, podsOf(s))
	if err != nil {
		return m, fmt.Errorf("list pods of %s/%s: %w", s.Namespace, s.Name, err)
	}
	for _, p := range pods.Items {
		if !podReady(&p) {
			continue
		}
		raw, err := e.askPod(ctx, s, p.Name)
		if err != nil {
			return m, fmt.Errorf("ask pod %s for model %s: %w", p.Name, s.Name, err)
		}
		if err := json.Unmarshal(raw, &m); err != nil || m.Digest == "" {
			return m, fmt.Errorf("pod %s answered %q for model %s", p.Name, truncate(string(raw)), s.Name)
		}
		return m, nil
	}
	return m, fmt.Errorf("no ready pod of %s/%s to ask", s.Namespace, s.Name)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil
		}
	}
	return false
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
