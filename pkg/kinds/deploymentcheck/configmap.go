package deploymentcheck

import (
	"context"
	"fmt"
	"path"
	"sort"

	"github.com/modelguard/modelguard/pkg/gate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReaderRole is the ClusterRole a namespace binds to let the controller
// read its ConfigMaps (config/221-configmap-reader.yaml).
const ReaderRole = "modelguard-configmap-reader"

// manifests returns what to check: the inline param, or the ConfigMap's
// manifest keys in key order. The ConfigMap is read from the CustomRun's
// own namespace, never another; the gate checks the content.
func (k *Kind) manifests(ctx context.Context, ns string, s source) ([]gate.Manifest, error) {
	if s.configMap == "" {
		return []gate.Manifest{{Source: "param manifests", YAML: s.inline}}, nil
	}
	cm, err := k.Kube.CoreV1().ConfigMaps(ns).Get(ctx, s.configMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("ConfigMap %s/%s not found", ns, s.configMap)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("the controller may not read ConfigMap %s/%s: bind ClusterRole %s to ServiceAccount modelguard/modelguard-controller in namespace %s", ns, s.configMap, ReaderRole, ns)
	case err != nil:
		return nil, fmt.Errorf("read ConfigMap %s/%s: %w", ns, s.configMap, err)
	}
	var keys []string
	for key := range cm.Data {
		if s.key == key || (s.key == "" && isManifestKey(key)) {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		if s.key != "" {
			return nil, fmt.Errorf("ConfigMap %s/%s has no key %q", ns, s.configMap, s.key)
		}
		return nil, fmt.Errorf("ConfigMap %s/%s has no .yaml, .yml or .json key with manifests", ns, s.configMap)
	}
	sort.Strings(keys)
	out := make([]gate.Manifest, 0, len(keys))
	for _, key := range keys {
		out = append(out, gate.Manifest{Source: "ConfigMap " + s.configMap + " key " + key, YAML: cm.Data[key]})
	}
	return out, nil
}

func isManifestKey(key string) bool {
	switch path.Ext(key) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
