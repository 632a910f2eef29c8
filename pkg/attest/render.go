package attest

import (
	"bytes"
	"fmt"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// Admission controllers a TrustPolicy renders for.
const (
	RenderPolicyController = "policy-controller"
	RenderKyverno          = "kyverno"
	RenderOpenShift        = "openshift"
)

// RenderFormats lists them in the order "all" renders them.
var RenderFormats = []string{RenderPolicyController, RenderKyverno, RenderOpenShift}

// Render writes the admission policy for one controller (or "all") as
// YAML documents, each with a comment saying how it is enforced.
func (t *Trust) Render(format string) ([]byte, error) {
	formats := []string{format}
	if format == "all" {
		formats = RenderFormats
	}
	var out bytes.Buffer
	for _, f := range formats {
		var objs []map[string]any
		var note string
		switch f {
		case RenderPolicyController:
			objs, note = t.PolicyController(), t.policyControllerNote()
		case RenderKyverno:
			objs, note = []map[string]any{t.Kyverno()}, "Kyverno ClusterPolicy: a Pod (and, by Kyverno's generated rules, its controller) in the namespaces it matches is admitted only if every rule passes."
		case RenderOpenShift:
			var err error
			if objs, err = t.OpenShift(); err != nil {
				return nil, err
			}
			note = "OpenShift (CRI-O) signature policy: enforced at image pull on every node; it checks the signature only, not attestations."
		default:
			return nil, fmt.Errorf("format %q: want %s or all", cut(format, 32), strings.Join(RenderFormats, ", "))
		}
		fmt.Fprintf(&out, "# %s\n", note)
		for _, o := range objs {
			b, err := yaml.Marshal(o)
			if err != nil {
				return nil, err
			}
			out.WriteString("---\n")
			out.Write(b)
		}
	}
	return out.Bytes(), nil
}

func (t *Trust) policyControllerNote() string {
	spaces := "every namespace"
	if len(t.spaces) > 0 {
		spaces = strings.Join(t.spaces, ", ")
	}
	return fmt.Sprintf("sigstore policy-controller: all ClusterImagePolicies must pass. It enforces only in namespaces labelled policy.sigstore.dev/include=true: label %s.", spaces)
}

// globs are policy-controller's patterns for the repositories: everything
// under each, and each itself by tag or digest.
func (t *Trust) globs() []any {
	var out []any
	for _, r := range t.repositories {
		out = append(out, map[string]any{"glob": r + "/**"}, map[string]any{"glob": r + ":**"}, map[string]any{"glob": r + "@**"})
	}
	return out
}

// PolicyController renders sigstore policy-controller ClusterImagePolicies
// (policy.sigstore.dev/v1beta1), one per requirement, since all policies
// that match an image must pass while an authority with attestations
// checks only those: a signature by the signer; SLSA provenance by the
// signer; a passed scan by the attestor no older than the maximum age
// (a Rego policy over the vuln statement). No transparency log (ctlog
// omitted: policy-controller then ignores the tlog for a key).
func (t *Trust) PolicyController() []map[string]any {
	key := func(pem []byte) map[string]any { return map[string]any{"data": string(pem), "hashAlgorithm": "sha256"} }
	cip := func(suffix string, authority map[string]any) map[string]any {
		return map[string]any{
			"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
			"metadata": map[string]any{"name": t.name + "-" + suffix, "labels": map[string]any{"app.kubernetes.io/managed-by": "modelguard"}},
			"spec":     map[string]any{"mode": "enforce", "images": t.globs(), "authorities": []any{authority}},
		}
	}
	out := []map[string]any{cip("signature", map[string]any{"name": "signer", "key": key(t.signer)})}
	if t.provenance {
		out = append(out, cip("provenance", map[string]any{"name": "signer", "key": key(t.signer),
			"attestations": []any{map[string]any{"name": "slsa-provenance", "predicateType": PredicateSLSA1}}}))
	}
	if t.maxScanAge > 0 {
		out = append(out, cip("scan", map[string]any{"name": "attestor", "key": key(t.attestor),
			"attestations": []any{map[string]any{"name": "passed-scan", "predicateType": PredicateVuln,
				"policy": map[string]any{"type": "rego", "data": t.scanRego()}}}}))
	}
	return out
}

// scanRego is evaluated by cosign's Rego engine (package sigstore, rule
// isCompliant) over the vuln statement: the gate passed, recently enough.
func (t *Trust) scanRego() string {
	return fmt.Sprintf(`package sigstore

default isCompliant = false

maxAgeNs := %d

isCompliant {
  input.predicate.scanner.result.verdict == "pass"
  finished := time.parse_rfc3339_ns(input.predicate.metadata.scanFinishedOn)
  time.now_ns() - finished <= maxAgeNs
}
`, t.maxScanAge.Nanoseconds())
}

// Kyverno renders a Kyverno ClusterPolicy (kyverno.io/v1) with one
// verifyImages rule per requirement (a rule verifies signatures or
// attestations, not both), keys inline, no transparency log.
func (t *Trust) Kyverno() map[string]any {
	var refs []any
	for _, r := range t.repositories {
		refs = append(refs, r+"/*", r+":*", r+"@*")
	}
	attestor := func(pem []byte) []any {
		return []any{map[string]any{"count": 1, "entries": []any{map[string]any{"keys": map[string]any{
			"publicKeys": string(pem), "signatureAlgorithm": "sha256",
			"rekor": map[string]any{"ignoreTlog": true}, "ctlog": map[string]any{"ignoreSCT": true},
		}}}}}
	}
	resources := map[string]any{"kinds": []any{"Pod"}}
	if len(t.spaces) > 0 {
		var ns []any
		for _, s := range t.spaces {
			ns = append(ns, s)
		}
		resources["namespaces"] = ns
	}
	rule := func(name string, verify map[string]any) any {
		verify["imageReferences"] = refs
		verify["failureAction"] = "Enforce"
		verify["required"] = true
		verify["verifyDigest"] = true
		return map[string]any{"name": name, "match": map[string]any{"any": []any{map[string]any{"resources": resources}}},
			"verifyImages": []any{verify}}
	}
	rules := []any{rule("signed", map[string]any{"attestors": attestor(t.signer)})}
	if t.provenance {
		rules = append(rules, rule("provenance", map[string]any{"attestations": []any{map[string]any{
			"predicateType": PredicateSLSA1, "attestors": attestor(t.signer)}}}))
	}
	if t.maxScanAge > 0 {
		rules = append(rules, rule("scanned", map[string]any{"attestations": []any{map[string]any{
			"predicateType": PredicateVuln, "attestors": attestor(t.attestor),
			"conditions": []any{map[string]any{"all": []any{
				map[string]any{"key": "{{ scanner.result.verdict }}", "operator": "Equals", "value": "pass",
					"message": "the scan gate did not pass"},
				map[string]any{"key": "{{ time_since('', '{{ metadata.scanFinishedOn }}', '') }}", "operator": "DurationLessThanOrEquals",
					"value": t.maxScanAge.String(), "message": "the newest scan is older than " + t.maxScanAge.String()},
			}}},
		}}}))
	}
	return map[string]any{
		"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
		"metadata": map[string]any{"name": t.name, "labels": map[string]any{"app.kubernetes.io/managed-by": "modelguard"}},
		"spec":     map[string]any{"background": false, "webhookTimeoutSeconds": 30, "rules": rules},
	}
}

// OpenShift renders, with OpenShift's own Go types, an ImagePolicy
// (config.openshift.io/v1) per namespace, or one ClusterImagePolicy when
// the trust covers the whole cluster: the signer's key, legacy .sig
// signatures, the identity matched by repository and digest.
func (t *Trust) OpenShift() ([]map[string]any, error) {
	var scopes []configv1.ImageScope
	for _, r := range t.repositories {
		scopes = append(scopes, configv1.ImageScope(r))
	}
	policy := configv1.ImageSigstoreVerificationPolicy{
		RootOfTrust: configv1.PolicyRootOfTrust{PolicyType: configv1.PublicKeyRootOfTrust,
			PublicKey: &configv1.ImagePolicyPublicKeyRootOfTrust{KeyData: t.signer}},
		SignedIdentity: &configv1.PolicyIdentity{MatchPolicy: configv1.IdentityMatchPolicyMatchRepoDigestOrExact},
	}
	meta := func(ns string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: t.name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "modelguard"}}
	}
	var typed []any
	if len(t.spaces) == 0 {
		typed = append(typed, &configv1.ClusterImagePolicy{TypeMeta: metav1.TypeMeta{APIVersion: "config.openshift.io/v1", Kind: "ClusterImagePolicy"},
			ObjectMeta: meta(""), Spec: configv1.ClusterImagePolicySpec{Scopes: scopes, Policy: policy}})
	}
	for _, ns := range t.spaces {
		typed = append(typed, &configv1.ImagePolicy{TypeMeta: metav1.TypeMeta{APIVersion: "config.openshift.io/v1", Kind: "ImagePolicy"},
			ObjectMeta: meta(ns), Spec: configv1.ImagePolicySpec{Scopes: scopes, Policy: policy}})
	}
	var out []map[string]any
	for _, o := range typed {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, err
		}
		delete(u, "status") // written by the cluster, not by us
		if m, ok := u["metadata"].(map[string]any); ok {
			delete(m, "creationTimestamp")
		}
		out = append(out, u)
	}
	return out, nil
}
