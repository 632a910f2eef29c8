package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ProvisionVolumes gives every PersistentVolumeClaim of the cluster that
// asks for no StorageClass a hostPath PersistentVolume under
// Dir/volumes, bound to it (kube-controller-manager binds the pre-bound
// pair), until the cluster stops: what a dynamic provisioner does in a
// real cluster, so a PipelineRun's volumeClaimTemplate workspace (one PVC
// per run, as config/triggers' TriggerTemplate makes) gets storage. The
// directories are world-writable: the Tasks' steps run as non-root.
// It runs in this process. The cluster must have a node.
func (c *Cluster) ProvisionVolumes(ctx context.Context) error {
	if !c.node {
		return fmt.Errorf("provision volumes: the cluster has no node (Config.Node)")
	}
	client, err := kubernetes.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.mu.Lock()
	c.onStop = append(c.onStop, cancel)
	c.mu.Unlock()
	go func() {
		for {
			if err := c.provisionPending(ctx, client); err != nil && ctx.Err() == nil {
				fmt.Fprintf(c.log, "localcluster: provision volumes: %v\n", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return nil
}

func (c *Cluster) provisionPending(ctx context.Context, client kubernetes.Interface) error {
	claims, err := client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, pvc := range claims.Items {
		if pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending ||
			(pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "") {
			continue
		}
		name := "local-" + string(pvc.UID)
		dir := filepath.Join(c.Dir, "volumes", name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		// MkdirAll applies the umask.
		if err := os.Chmod(dir, 0o777); err != nil {
			return err
		}
		size, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if !ok {
			continue
		}
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"modelguard.dev/local-volume": "true"}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
				AccessModes:                   pvc.Spec.AccessModes,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
				ClaimRef:                      &corev1.ObjectReference{Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			},
		}
		if _, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("volume for %s/%s: %w", pvc.Namespace, pvc.Name, err)
		}
	}
	return nil
}
