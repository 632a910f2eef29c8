package localcluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// chainsPodSelector selects the controller pod of Chains' release.
const chainsPodSelector = "app=tekton-chains-controller"

// waitChainsLeases waits until the controller holds the leader election
// Lease of its TaskRun reconciler: then its informers have synced and it
// signs. A controller that crashes or cannot pull fails at once, with its
// pod's description and log.
func (c *Cluster) waitChainsLeases(ctx context.Context, client kubernetes.Interface) error {
	err := waitFor(ctx, chainsReadyTimeout, func() (bool, string, error) {
		leases, err := client.CoordinationV1().Leases(ChainsNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		var names []string
		for _, l := range leases.Items {
			if strings.Contains(l.Name, "reconciler.taskrun") && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
				return true, "", nil
			}
			names = append(names, l.Name)
		}
		pods, err := client.CoreV1().Pods(ChainsNamespace).List(ctx, metav1.ListOptions{LabelSelector: chainsPodSelector})
		if err != nil {
			return false, err.Error(), nil
		}
		for _, p := range pods.Items {
			if bad := podTrouble(p); bad != "" {
				return false, "", fmt.Errorf("%s", bad)
			}
		}
		return false, fmt.Sprintf("no lease of the taskrun reconciler yet (leases: %v)", names), nil
	})
	if err != nil {
		return fmt.Errorf("chains controller not running: %w\n%s", err, c.describeChains(ctx))
	}
	return nil
}

// podTrouble says why a pod will not come up by itself (a crashed
// container, an image that cannot be pulled), or "" while it may.
func podTrouble(p corev1.Pod) string {
	statuses := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, s := range statuses {
		if s.RestartCount > 0 {
			return fmt.Sprintf("container %s of pod %s restarted %d times", s.Name, p.Name, s.RestartCount)
		}
		if w := s.State.Waiting; w != nil {
			switch w.Reason {
			case "CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
				"CreateContainerConfigError", "CreateContainerError":
				return fmt.Sprintf("container %s of pod %s: %s: %s", s.Name, p.Name, w.Reason, w.Message)
			}
		}
		if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
			return fmt.Sprintf("container %s of pod %s exited %d: %s", s.Name, p.Name, t.ExitCode, t.Message)
		}
	}
	return ""
}

// describeChains returns the description of Chains' pods and the
// controller's log (current and previous run), for error messages.
func (c *Cluster) describeChains(ctx context.Context) string {
	return c.kubectlReport(ctx,
		[]string{"-n", ChainsNamespace, "describe", "pods"},
		[]string{"-n", ChainsNamespace, "logs", "-l", chainsPodSelector, "-c", "tekton-chains-controller", "--tail=60"},
		[]string{"-n", ChainsNamespace, "logs", "-l", chainsPodSelector, "-c", "tekton-chains-controller", "--tail=60", "--previous"})
}

// kubectlReport runs each kubectl command as the admin and returns their
// outputs (and errors) under headers: what an error message about a pod
// that will not come up needs.
func (c *Cluster) kubectlReport(ctx context.Context, commands ...[]string) string {
	var b strings.Builder
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	for _, args := range commands {
		out, err := c.Kubectl(ctx, UserAdmin, args...)
		fmt.Fprintf(&b, "--- kubectl %s ---\n%s", strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	return b.String()
}
