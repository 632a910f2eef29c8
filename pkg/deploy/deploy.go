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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// FieldManager owns the fields Apply sets.
const FieldManager = "modelguard"

// Engine applies and watches a Spec's objects.
type Engine struct {
	Kube kubernetes.Interface
	// Dynamic applies InferenceServices (KServe's types are not compiled
	// in); needed for TargetKServe only.
	Dynamic dynamic.Interface
	Poll    time.Duration // default 500ms
}

// Result is a deployment that came up.
type Result struct {
	// Object is what was applied: "InferenceService ns/name" or
	// "Deployment ns/name".
	Object     string
	Deployment string // namespace/name of the Deployment whose pods serve
	ServiceURL string // in-cluster URL of the model's metadata
	Ready      int32
	// Served is what the server says it loaded: the model's content digest.
	Served modelserver.Model
	// Modelcar is, under KServe, the image of the modelcar container
	// KServe's pod webhook injected into the pod that answered.
	Modelcar string
}

// workload is where the serving pods of a Spec are.
type workload struct {
	deployment string            // the Deployment's name
	selector   map[string]string // its pods' labels
}

func (s Spec) workload() workload {
	if s.Target == TargetKServe {
		return workload{deployment: s.Name + "-predictor", selector: map[string]string{LabelInferenceService: s.Name}}
	}
	return workload{deployment: s.Name, selector: map[string]string{LabelName: s.Name}}
}

// Render returns the objects Run applies for s, whose Target is resolved
// (TargetKServe or TargetDeployment): an InferenceService, or a
// Deployment and its Service.
func Render(s Spec) ([]any, error) {
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	switch s.Target {
	case TargetKServe:
		return []any{InferenceService(s)}, nil
	case TargetDeployment:
		dep, svc := Objects(s)
		return []any{svc, dep}, nil
	}
	return nil, fmt.Errorf("render: target %q is not resolved", s.Target)
}

// Run applies the objects, waits until every replica is ready, and asks
// one of them what it serves. TargetAuto becomes KServe where the cluster
// has it.
func (e *Engine) Run(ctx context.Context, s Spec, timeout time.Duration) (*Result, error) {
	s = s.WithDefaults()
	target, err := e.ResolveTarget(ctx, s.Target)
	if err != nil {
		return nil, err
	}
	s.Target = target
	objs, err := Render(s)
	if err != nil {
		return nil, err
	}
	for _, obj := range objs {
		if err := e.apply(ctx, obj); err != nil {
			return nil, err
		}
	}
	w := s.workload()
	ready, err := e.wait(ctx, s, w, timeout)
	if err != nil {
		return nil, err
	}
	res := &Result{Object: "Deployment " + s.Namespace + "/" + s.Name, Deployment: s.Namespace + "/" + w.deployment, Ready: ready,
		ServiceURL: fmt.Sprintf("http://%s.%s.svc/v2/models/%s", s.Name, s.Namespace, s.Name)}
	if s.Target == TargetKServe {
		res.Object = "InferenceService " + s.Namespace + "/" + s.Name
		res.ServiceURL = fmt.Sprintf("http://%s.%s.svc/v2/models/%s", w.deployment, s.Namespace, s.Name)
	}
	pod, served, err := e.ask(ctx, s, w)
	if err != nil {
		return nil, err
	}
	res.Served = served
	if s.Target == TargetKServe {
		if res.Modelcar, err = injectedModelcar(pod, s.ModelImage); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// injectedModelcar proves that the pod that answered read the model from
// the modelcar: KServe's webhook put a modelcar container running the
// model image, by digest, next to the server.
func injectedModelcar(p *corev1.Pod, image string) (string, error) {
	for _, c := range p.Spec.Containers {
		if c.Name == modelcarContainer {
			if c.Image != image {
				return "", fmt.Errorf("pod %s runs modelcar %s, not %s", p.Name, c.Image, image)
			}
			return c.Image, nil
		}
	}
	return "", fmt.Errorf("pod %s has no %s container: KServe's pod webhook did not inject the modelcar (is storageInitializer.enableModelcar on, and the webhook registered?)", p.Name, modelcarContainer)
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
	case *unstructured.Unstructured:
		if e.Dynamic == nil {
			return fmt.Errorf("apply %s %s: no dynamic client", o.GetKind(), o.GetName())
		}
		_, err = e.Dynamic.Resource(InferenceServiceGVR).Namespace(o.GetNamespace()).Patch(ctx, o.GetName(), types.ApplyPatchType, body, opts)
		if err != nil {
			return fmt.Errorf("apply InferenceService %s/%s: %w", o.GetNamespace(), o.GetName(), err)
		}
	}
	return nil
}

// wait polls the Deployment until the current generation has every
// replica ready, or says why not when time runs out.
func (e *Engine) wait(ctx context.Context, s Spec, w workload, timeout time.Duration) (int32, error) {
	poll := e.Poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	deadline := time.Now().Add(timeout)
	for {
		var st appsv1.DeploymentStatus
		d, err := e.Kube.AppsV1().Deployments(s.Namespace).Get(ctx, w.deployment, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) && s.Target == TargetKServe:
			// KServe's manager makes it from the InferenceService.
		case err != nil:
			return 0, fmt.Errorf("read Deployment %s/%s: %w", s.Namespace, w.deployment, err)
		default:
			st = d.Status
			if st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == s.Replicas && st.ReadyReplicas == s.Replicas && st.Replicas == s.Replicas {
				return st.ReadyReplicas, nil
			}
		}
		if time.Now().After(deadline) {
			if d == nil || err != nil {
				return 0, fmt.Errorf("KServe made no Deployment %s/%s from InferenceService %s within %s: is KServe's manager running?",
					s.Namespace, w.deployment, s.Name, timeout)
			}
			return 0, fmt.Errorf("Deployment %s/%s not ready after %s (%d/%d ready): %s",
				s.Namespace, w.deployment, timeout, st.ReadyReplicas, s.Replicas, e.whyNot(ctx, s, w))
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

func podsOf(w workload) metav1.ListOptions {
	return metav1.ListOptions{LabelSelector: labels.SelectorFromSet(w.selector).String(), Limit: maxListed}
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
func (e *Engine) whyNot(ctx context.Context, s Spec, w workload) string {
	var why []string
	pods, err := e.Kube.CoreV1().Pods(s.Namespace).List(ctx, podsOf(w))
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
func (e *Engine) ask(ctx context.Context, s Spec, w workload) (*corev1.Pod, modelserver.Model, error) {
	var m modelserver.Model
	pods, err := e.Kube.CoreV1().Pods(s.Namespace).List(ctx, podsOf(w))
	if err != nil {
		return nil, m, fmt.Errorf("list pods of %s/%s: %w", s.Namespace, w.deployment, err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if !podReady(p) {
			continue
		}
		raw, err := e.askPod(ctx, s, p.Name)
		if err != nil {
			return nil, m, fmt.Errorf("ask pod %s for model %s: %w", p.Name, s.Name, err)
		}
		if err := json.Unmarshal(raw, &m); err != nil || m.Digest == "" {
			return nil, m, fmt.Errorf("pod %s answered %q for model %s", p.Name, truncate(string(raw)), s.Name)
		}
		return p, m, nil
	}
	return nil, m, fmt.Errorf("no ready pod of %s/%s to ask", s.Namespace, w.deployment)
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
