package tools

import (
	"slices"
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
