package deploymentcheck

import (
	"context"
	"fmt"
	"path"
	"sort"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/kinds"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReasonManifests is the failure reason when the manifests' ConfigMap
// cannot be used.
const ReasonManifests = "ManifestsUnavailable"

// ReaderRole is the ClusterRole a namespace binds to let the controller
// read its ConfigMaps (config/221-configmap-reader.yaml).
const ReaderRole = "modelguard-configmap-reader"

// manifests returns the YAML to check: the inline param, or the
// ConfigMap's manifest keys in key order. The ConfigMap is read from the
// CustomRun's own namespace, never another.
func (k *Kind) manifests(ctx context.Context, ns string, s source) (string, error) {
	if s.configMap == "" {
		return s.inline, nil
	}
	cm, err := k.Kube.CoreV1().ConfigMaps(ns).Get(ctx, s.configMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", kinds.Deny(ReasonManifests, nil, "ConfigMap %s/%s not found", ns, s.configMap)
	case apierrors.IsForbidden(err):
		return "", kinds.Deny(ReasonManifests, nil, "the controller may not read ConfigMap %s/%s: bind ClusterRole %s to ServiceAccount modelguard/modelguard-controller in namespace %s", ns, s.configMap, ReaderRole, ns)
	case err != nil:
		return "", fmt.Errorf("read ConfigMap %s/%s: %w", ns, s.configMap, err)
	}
	var keys []string
	for key := range cm.Data {
		if s.key == key || (s.key == "" && isManifestKey(key)) {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		if s.key != "" {
			return "", kinds.Deny(ReasonManifests, nil, "ConfigMap %s/%s has no key %q", ns, s.configMap, s.key)
		}
		return "", kinds.Deny(ReasonManifests, nil, "ConfigMap %s/%s has no .yaml, .yml or .json key with manifests", ns, s.configMap)
	}
	sort.Strings(keys)
	docs := make([]string, 0, len(keys))
	size := 0
	for _, key := range keys {
		docs = append(docs, cm.Data[key])
		size += len(cm.Data[key])
	}
	if size > manifestsLimit {
		return "", kinds.Deny(ReasonManifests, nil, "ConfigMap %s/%s: the manifests are %d bytes, more than the %d KiB a check takes", ns, s.configMap, size, manifestsLimit>>10)
	}
	yaml := acs.JoinYAML(docs...)
	if yaml == "" {
		return "", kinds.Deny(ReasonManifests, nil, "ConfigMap %s/%s: the manifests are empty", ns, s.configMap)
	}
	return yaml, nil
}

func isManifestKey(key string) bool {
	switch path.Ext(key) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
