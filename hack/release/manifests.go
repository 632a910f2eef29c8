package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/modelguard/modelguard/test/localcluster"
)

// modulePath is the import path ko:// references name in this module.
const modulePath = "github.com/modelguard/modelguard"

// koRef matches a ko:// reference to one of this module's commands, as
// config/ and the Tasks' image defaults carry them until a release.
var koRef = regexp.MustCompile(`ko://[a-zA-Z0-9._/-]+`)

// renderRelease renders config/ (with components, dirs under config/)
// and every object and the controller's pod template labelled
// app.kubernetes.io/version: a new release changes the pod template even
// when the images are the same, so applying it rolls the Deployment.
func renderRelease(root string, components []string, version string) ([]byte, error) {
	var dirs []string
	for _, c := range components {
		dirs = append(dirs, filepath.Join(root, "config", c))
	}
	return localcluster.RenderWith(filepath.Join(root, "config"), dirs, map[string]string{"app.kubernetes.io/version": version})
}

// resolveKo replaces every ko:// reference to one of this module's
// commands with its image (images maps "ko://<import path>" to a
// reference) and fails on any ko:// reference left: a release names no
// image that is not pushed.
func resolveKo(data []byte, images map[string]string) ([]byte, error) {
	var unknown []string
	out := koRef.ReplaceAllFunc(data, func(m []byte) []byte {
		if ref, ok := images[string(m)]; ok {
			return []byte(ref)
		}
		unknown = append(unknown, string(m))
		return m
	})
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("no image for %s", strings.Join(unknown, ", "))
	}
	return out, nil
}

// catalogFiles returns the Task and Pipeline files of the checkout at
// root, <kind>s/<name>/<version>/<name>.yaml, relative to root and sorted.
func catalogFiles(root string) ([]string, error) {
	var files []string
	for _, kind := range []string{"tasks", "pipelines"} {
		dirs, err := filepath.Glob(filepath.Join(root, kind, "*", "*"))
		if err != nil {
			return nil, err
		}
		for _, d := range dirs {
			f := filepath.Join(d, filepath.Base(filepath.Dir(d))+".yaml")
			if _, err := os.Stat(f); err == nil {
				rel, _ := filepath.Rel(root, f)
				files = append(files, rel)
			}
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no tasks/*/*/*.yaml or pipelines/*/*/*.yaml under %s", root)
	}
	return files, nil
}
