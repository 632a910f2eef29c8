package localcluster

import (
	"fmt"
	"path/filepath"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// readRelease reads the YAML files of a project's release dir (Chains'
// or policy-controller's config/) and returns every object but the one
// controller Deployment (and kustomize's own file), and that Deployment.
func readRelease(dir string) ([]any, *appsv1.Deployment, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		return nil, nil, fmt.Errorf("no release manifests in %s", dir)
	}
	all, err := readManifests(paths...)
	if err != nil {
		return nil, nil, err
	}
	var objs []any
	var dep *appsv1.Deployment
	for _, u := range all {
		switch u.GetKind() {
		case "Kustomization":
			continue
		case "Deployment":
			if dep != nil {
				return nil, nil, fmt.Errorf("the release in %s has more than one Deployment", dir)
			}
			dep = &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, dep); err != nil {
				return nil, nil, fmt.Errorf("release Deployment: %w", err)
			}
		default:
			objs = append(objs, u.Object)
		}
	}
	if dep == nil || len(dep.Spec.Template.Spec.Containers) != 1 {
		return nil, nil, fmt.Errorf("the release in %s has no one-container Deployment", dir)
	}
	return objs, dep, nil
}
