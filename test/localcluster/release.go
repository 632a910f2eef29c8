package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// readRelease reads the YAML files of a project's release dir (Chains'
// or policy-controller's config/) and returns every object but the one
// controller Deployment (and kustomize's own file), and that Deployment.
func readRelease(dir string) ([]any, *appsv1.Deployment, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		return nil, nil, fmt.Errorf("no release manifests in %s", dir)
	}
	var objs []any
	var dep *appsv1.Deployment
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("read release: %w", err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, nil, fmt.Errorf("parse %s: %w", filepath.Base(p), err)
			}
			if len(u.Object) == 0 || u.GetKind() == "Kustomization" {
				continue
			}
			if u.GetKind() != "Deployment" {
				objs = append(objs, u.Object)
				continue
			}
			if dep != nil {
				return nil, nil, fmt.Errorf("the release in %s has more than one Deployment", dir)
			}
			dep = &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, dep); err != nil {
				return nil, nil, fmt.Errorf("release Deployment: %w", err)
			}
		}
	}
	if dep == nil || len(dep.Spec.Template.Spec.Containers) != 1 {
		return nil, nil, fmt.Errorf("the release in %s has no one-container Deployment", dir)
	}
	return objs, dep, nil
}
