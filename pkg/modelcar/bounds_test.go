package modelcar

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	modelregistry "github.com/modelguard/modelguard/pkg/registry"
)

// A base image whose config is larger than any real base's is refused
// before the config is read: whoever controls the base's registry must
// not choose how much the builder holds in memory.
func TestHugeBaseConfigRefused(t *testing.T) {
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{Config: v1.Config{Labels: map[string]string{"x": strings.Repeat("x", 9<<20)}}})
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(host + "/base/huge:v1")
	if err := remote.Write(tag, base); err != nil {
		t.Fatal(err)
	}
	d, _ := base.Digest()
	_, err = Build(context.Background(), Options{ModelDir: model(t, hfModel), Runtime: "vllm",
		Base: tag.Context().Digest(d.String()).String(), Target: host + "/models/m:v1", Created: epoch})
	if !errors.Is(err, modelregistry.ErrTooLarge) || !strings.Contains(err.Error(), "config claims") {
		t.Fatalf("huge base config: %v", err)
	}
}
