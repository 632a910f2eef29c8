package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/scheme"
	tektonoci "github.com/tektoncd/pipeline/pkg/remote/oci"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// bundleImage returns the Tekton bundle of the one Tekton object in doc
// (YAML or JSON), built as `tkn bundle push -f <file>` builds it
// (tektoncd/cli v0.46.0, pkg/bundle), so the two give the same digest for
// the same file; TestBundleMatchesTkn holds them to it:
//   - empty.Image (Docker media types), a config without labels and a
//     manifest without annotations;
//   - one layer per object: a tar of one entry named after metadata.name,
//     mode 0600, no times, holding the object as JSON as apimachinery's
//     YAML-or-JSON decoder gives it, gzipped by tarball.LayerFromReader;
//   - the layer annotations the bundles resolver reads
//     (dev.tekton.image.apiVersion: the version alone, dev.tekton.image.kind:
//     the kind in lower case, dev.tekton.image.name: the name);
//   - created at the Unix epoch, tkn's default without --ctime or
//     SOURCE_DATE_EPOCH: nothing in it depends on when it is built.
func bundleImage(doc []byte) (v1.Image, error) {
	raw, err := oneObject(doc)
	if err != nil {
		return nil, err
	}
	obj, gvk, err := serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("not a Tekton object: %w", err)
	}
	meta, ok := obj.(metav1.Object)
	if !ok || meta.GetName() == "" {
		return nil, errors.New("the object has no metadata.name")
	}
	if gvk.Group != "tekton.dev" {
		return nil, fmt.Errorf("a bundle holds Tekton objects; this is %s", gvk)
	}
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	if err := tw.WriteHeader(&tar.Header{Name: meta.GetName(), Mode: 0o600, Size: int64(len(raw)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(raw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	//nolint:staticcheck // the layer tkn makes; its gzip is part of the digest
	layer, err := tarball.LayerFromReader(&layerTar)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Config(empty.Image, v1.Config{})
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, Annotations: map[string]string{
		tektonoci.APIVersionAnnotation: gvk.Version,
		tektonoci.KindAnnotation:       strings.ToLower(gvk.Kind),
		tektonoci.TitleAnnotation:      meta.GetName(),
	}})
	if err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, v1.Time{Time: time.Unix(0, 0)})
}

// oneObject decodes doc as tkn does (YAML documents to JSON) and returns
// its one object; a bundle of this release holds exactly one.
func oneObject(doc []byte) ([]byte, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(doc), 4096)
	var objs [][]byte
	for {
		var ext runtime.RawExtension
		if err := dec.Decode(&ext); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("not YAML or JSON: %w", err)
		}
		raw := bytes.TrimSpace(ext.Raw)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			continue
		}
		objs = append(objs, raw)
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("want one object, found %d", len(objs))
	}
	return objs[0], nil
}
