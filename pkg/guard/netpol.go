package guard

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Namespace and pod labels the policies select on. The OpenShift ones are
// the documented policy-group labels; Knative's is set by OpenShift
// Serverless on its system namespaces.
const (
	nsNameLabel          = "kubernetes.io/metadata.name"
	openshiftIngressNS   = "policy-group.network.openshift.io/ingress"
	openshiftMonitoring  = "network.openshift.io/policy-group"
	knativeSystemNS      = "knative.openshift.io/system-namespace"
	openshiftDNSPodLabel = "dns.operator.openshift.io/daemonset-dns"
)

// networkPolicies builds the namespace's policies: deny everything, then
// allow the namespace to itself, DNS, and the sources and destinations the
// Spec names. Each allowance is its own policy, named for what it allows,
// so `kubectl get networkpolicy` reads like the Spec.
func networkPolicies(s *Spec) []*networkingv1.NetworkPolicy {
	all := metav1.LabelSelector{}
	ingressAndEgress := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	out := []*networkingv1.NetworkPolicy{
		netpol(s, "default-deny", networkingv1.NetworkPolicySpec{PodSelector: all, PolicyTypes: ingressAndEgress}),
		netpol(s, "allow-same-namespace", networkingv1.NetworkPolicySpec{
			PodSelector: all,
			PolicyTypes: ingressAndEgress,
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &all}}}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &all}}}},
		}),
		netpol(s, "allow-dns", networkingv1.NetworkPolicySpec{
			PodSelector: all,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				// kube-dns (CoreDNS) on vanilla Kubernetes listens on 53.
				{To: []networkingv1.NetworkPolicyPeer{namespacePods("kube-system", map[string]string{"k8s-app": "kube-dns"})}, Ports: dnsPorts(53)},
				// OpenShift's CoreDNS listens on 5353 behind the service's
				// 53; policies see the pod port, so allow both.
				{To: []networkingv1.NetworkPolicyPeer{namespacePods("openshift-dns", map[string]string{openshiftDNSPodLabel: "default"})}, Ports: dnsPorts(53, 5353)},
			},
		}),
	}
	for _, src := range s.Ingress {
		out = append(out, ingressPolicy(s, src))
	}
	if len(s.Egress) > 0 {
		out = append(out, egressPolicy(s))
	}
	return out
}

func ingressPolicy(s *Spec, src IngressSource) *networkingv1.NetworkPolicy {
	var peer networkingv1.NetworkPolicyPeer
	name := "allow-from-" + src.Kind
	switch src.Kind {
	case FromOpenShiftRouter:
		peer = namespacesLabelled(openshiftIngressNS, "")
	case FromMonitoring:
		peer = namespacesLabelled(openshiftMonitoring, "monitoring")
	case FromKnative:
		peer = namespacesLabelled(knativeSystemNS, "true")
	case FromIstio:
		peer = namespacesLabelled(nsNameLabel, "istio-system")
	case FromNamespace:
		peer = namespacesLabelled(nsNameLabel, src.Namespace)
		name = nsIngressPrefix + src.Namespace
	}
	return netpol(s, name, networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{peer}}},
	})
}

func egressPolicy(s *Spec) *networkingv1.NetworkPolicy {
	var rules []networkingv1.NetworkPolicyEgressRule
	for _, e := range s.Egress {
		r := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: e.CIDR, Except: e.Except}}}}
		if e.Port != 0 {
			tcp := corev1.ProtocolTCP
			port := intstr.FromInt32(int32(e.Port))
			r.Ports = []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}}
		}
		rules = append(rules, r)
	}
	return netpol(s, "allow-egress", networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
		Egress:      rules,
	})
}

func netpol(s *Spec, name string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(s, namePrefix+name),
		Spec:       spec,
	}
}

func namespacesLabelled(key, value string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{key: value}}}
}

func namespacePods(ns string, pods map[string]string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{nsNameLabel: ns}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: pods},
	}
}

func dnsPorts(ports ...int) []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for _, p := range ports {
		for _, proto := range []corev1.Protocol{corev1.ProtocolUDP, corev1.ProtocolTCP} {
			proto, port := proto, intstr.FromInt32(int32(p))
			out = append(out, networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port})
		}
	}
	return out
}
