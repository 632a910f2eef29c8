package acsemulator

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// SensorOptions configure WatchDeployments.
type SensorOptions struct {
	// Namespace limits the watch to one namespace; empty watches all.
	Namespace string
	// ExecPath is the path Collector would report for a container's
	// entrypoint. The default is the command's first word when it is
	// absolute, else /usr/bin/<it>, else /<container name> for a container
	// that relies on its image's entrypoint.
	ExecPath func(c corev1.Container) string
}

// WatchDeployments plays Sensor and Collector for a real cluster: every
// Deployment is reported to the emulated Central as it appears
// (AddDeployment; Central reports it after the deployment delay), and once
// it has a ready replica, each container's entrypoint is reported as a
// process of it (Exec), so runtime policies see it. A deleted Deployment
// is removed. It returns once the watch runs; the watch stops with ctx.
func (e *Emulator) WatchDeployments(ctx context.Context, kube kubernetes.Interface, o SensorOptions) error {
	if o.ExecPath == nil {
		o.ExecPath = entrypoint
	}
	factory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(o.Namespace))
	inf := factory.Apps().V1().Deployments().Informer()
	seen := map[string]bool{} // uid/container already reported running
	report := func(obj any) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok {
			return
		}
		w := Workload{UID: string(d.UID), Name: d.Name, Namespace: d.Namespace, Labels: d.Labels}
		for _, c := range d.Spec.Template.Spec.Containers {
			w.Containers = append(w.Containers, WorkloadContainer{Name: c.Name, Image: c.Image})
		}
		if err := e.AddDeployment(w); err != nil || d.Status.ReadyReplicas == 0 {
			return
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			key := w.UID + "/" + c.Name
			if seen[key] {
				continue
			}
			seen[key] = true
			_ = e.Exec(Process{DeploymentUID: w.UID, Container: c.Name, Pod: d.Name + "-" + stableUUID("pod", w.UID)[:10],
				ExecPath: o.ExecPath(c), Args: strings.Join(append(tail(c.Command), c.Args...), " ")})
		}
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    report,
		UpdateFunc: func(_, obj any) { report(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if d, ok := obj.(*appsv1.Deployment); ok {
				e.RemoveDeployment(string(d.UID))
			}
		},
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		return fmt.Errorf("acsemulator: WatchDeployments: the Deployment informer did not sync")
	}
	return nil
}

func entrypoint(c corev1.Container) string {
	if len(c.Command) == 0 {
		return "/" + c.Name
	}
	if path.IsAbs(c.Command[0]) {
		return path.Clean(c.Command[0])
	}
	return "/usr/bin/" + path.Base(c.Command[0])
}

func tail(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s[1:]
}
