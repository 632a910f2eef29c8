package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// serviceAccountTokenTTL is how long a process' token lives: a detached
// demo cluster runs for a while, and nothing here rotates tokens.
const serviceAccountTokenTTL = 48 * 3600

// ServiceAccountKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount ns/name with a token from the TokenRequest API (what the
// kubelet mounts into a pod), creating the ServiceAccount if it is
// missing, and returns its path. A process run out of cluster with it
// has exactly the rights RBAC gives that ServiceAccount, as its pod would.
func (c *Cluster) ServiceAccountKubeconfig(ctx context.Context, ns, name string) (string, error) {
	client, err := kubernetes.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		return "", err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("service account %s/%s: %w", ns, name, err)
	}
	tr, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](serviceAccountTokenTTL)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for service account %s/%s: %w", ns, name, err)
	}
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		return "", err
	}
	user := User{Name: "system:serviceaccount:" + ns + ":" + name, Token: tr.Status.Token}
	path := filepath.Join(c.Dir, "kubeconfigs", "sa-"+ns+"-"+name+".kubeconfig")
	if err := writeKubeconfig(path, c.Server, ca, user); err != nil {
		return "", err
	}
	return path, nil
}
