package cli

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeconfigFile is how every command that talks to a cluster finds it:
// the --kubeconfig file, else $KUBECONFIG, ~/.kube/config, or in-cluster,
// always with the caller's own credentials.
func kubeconfigFile(path string) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
}

// restConfig is kubeconfigFile's REST config.
func restConfig(path string) (*rest.Config, error) {
	cfg, err := kubeconfigFile(path).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

// kubeClient is a client for kubeconfigFile's cluster.
func kubeClient(path string) (kubernetes.Interface, error) {
	cfg, err := restConfig(path)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}
