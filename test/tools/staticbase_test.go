package tools

import (
	"testing"
)

// The release's reproducibility rests on the base: two builds of it must
// be the same index, with one non-root image per release platform.
func TestStaticBase(t *testing.T) {
	a, err := StaticBase()
	if err != nil {
		t.Fatal(err)
	}
	b, err := StaticBase()
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("two builds differ: %s, %s", da, db)
	}
	m, err := a.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != len(ReleasePlatforms) {
		t.Fatalf("%d manifests, want %d", len(m.Manifests), len(ReleasePlatforms))
	}
	for i, d := range m.Manifests {
		if d.Platform == nil || d.Platform.String() != ReleasePlatforms[i] {
			t.Errorf("manifest %d platform %v, want %s", i, d.Platform, ReleasePlatforms[i])
		}
		img, err := a.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != NonRootUser || cf.OS+"/"+cf.Architecture != ReleasePlatforms[i] {
			t.Errorf("manifest %d: user %q, platform %s/%s", i, cf.Config.User, cf.OS, cf.Architecture)
		}
	}
}
