package tools

import (
	"slices"
	"testing"
)

func TestVersionReplaces(t *testing.T) {
	gomod := []byte(`module example.com/tool

go 1.24

require example.com/a v1.0.0

replace (
	example.com/a => example.com/fork v1.0.1
	example.com/b v1.2.0 => example.com/b v1.2.1 // pinned
	example.com/local => ./staging/local
)

replace example.com/c => example.com/c2 v0.0.0-20220729172235-78744e90d087
`)
	got, err := versionReplaces(gomod)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"example.com/a => example.com/fork v1.0.1",
		"example.com/b v1.2.0 => example.com/b v1.2.1",
		"example.com/c => example.com/c2 v0.0.0-20220729172235-78744e90d087",
	}
	if !slices.Equal(got, want) {
		t.Errorf("versionReplaces = %q, want %q", got, want)
	}
}

func TestModuleExcludes(t *testing.T) {
	gomod := []byte(`module example.com/tool

go 1.24

exclude google.golang.org/grpc/stats/opentelemetry v0.0.0-00010101000000-000000000000

exclude (
	example.com/x v1.0.0
)
`)
	got, err := moduleExcludes(gomod)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"google.golang.org/grpc/stats/opentelemetry v0.0.0-00010101000000-000000000000",
		"example.com/x v1.0.0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("moduleExcludes = %q, want %q", got, want)
	}
}
