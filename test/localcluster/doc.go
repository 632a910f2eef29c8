// Package localcluster runs a real, local Kubernetes control plane for tests
// and the demo: etcd, kube-apiserver (RBAC on, named users from a static
// token file) and the Tekton Pipelines controller run out-of-cluster, all on
// free loopback ports. There is no Docker. By default there is no kubelet
// and no pod: Tekton's reconcilers run, but nothing executes a pod-based
// step. With Config.Node a real node joins (containerd, kubelet, scheduler,
// controller-manager, a local registry with Tekton's images built by ko), so
// TaskRuns run in real pods, on a pod network that reaches the apiserver
// through the "kubernetes" Service and the registry and test servers on the
// node's bridge (forward.go). On such a cluster, InstallChains runs Tekton
// Chains as a pod, from its release manifests; InstallResolvers runs
// Tekton's resolvers; ServeGit serves git repositories; EmulateRestrictedV2
// and RestrictedNamespace make namespaces as a restricted (OpenShift)
// cluster has them; InstallModelguard installs the project itself as a
// cluster admin would (the controller out of cluster, as its
// ServiceAccount), and InstallModelguardRelease from a release.yaml, in
// cluster.
//
// The binaries and images come from test/tools, built once per machine.
package localcluster
