package tools

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLocalReplaces(t *testing.T) {
	gomod := []byte(`module k8s.io/kubernetes

require k8s.io/api v0.0.0

replace k8s.io/single => ./staging/src/k8s.io/single // one-line form

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
	example.com/pinned => example.com/pinned v1.2.3
)
`)
	got, err := localReplaces(gomod)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"k8s.io/api", "k8s.io/apimachinery", "k8s.io/single"}
	if !slices.Equal(got, want) {
		t.Errorf("localReplaces = %v, want %v", got, want)
	}
}

// make test-tekton runs the e2e suite against the versions besides the
// pin; the Makefile's list must be tools.TektonVersions'.
func TestMakefileTektonVersions(t *testing.T) {
	root := RepoRoot()
	if root == "" {
		t.Fatal("no checkout")
	}
	data, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	want := "TEKTON_VERSIONS_OTHER ?= " + strings.Join(TektonVersions[1:], " ") + "\n"
	if !strings.Contains(string(data), want) {
		t.Errorf("the Makefile lacks %q", want)
	}
}
