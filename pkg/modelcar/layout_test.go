package modelcar

import (
	"strings"
	"testing"
)

func files(names ...string) []File {
	var out []File
	for _, n := range names {
		out = append(out, File{Rel: n})
	}
	return out
}

func TestCheckLayout(t *testing.T) {
	for _, tc := range []struct {
		runtime Runtime
		tree    []File
		want    string // "" means valid
	}{
		{VLLM, files("config.json", "model.safetensors", "tokenizer.json"), ""},
		{VLLM, files("model.safetensors"), "config.json is missing"},
		{VLLM, files("config.json", "weights/model.safetensors"), "no weights at the model root"},
		{OVMS, files("1/model.xml", "1/model.bin", "2/model.xml"), ""},
		{OVMS, files("model.xml"), "model.xml is at the model root"},
		{OVMS, files("v1/model.xml"), "directory v1/ is not a version number"},
		{Triton, files("config.pbtxt", "1/model.onnx"), ""},
		{Triton, files("resnet/config.pbtxt", "resnet/1/model.plan", "bert/config.pbtxt", "bert/3/model.pt"), ""},
		{Triton, files("resnet/1/model.plan"), "config.pbtxt is missing in resnet/"},
		{Triton, files("config.pbtxt", "model.onnx"), "no numbered version directory"},
		{Caikit, files("artifacts/model.bin", "config.yml"), ""},
		{Caikit, files("model.bin"), "artifacts/ is missing"},
		{None, files("anything"), ""},
	} {
		err := CheckLayout(tc.runtime, tc.tree)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %v: %v", tc.runtime, tc.tree, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %v: %v; want %q", tc.runtime, tc.tree, err, tc.want)
		}
	}
	if _, err := ParseRuntime("tensorflow"); err == nil {
		t.Error("unknown runtime accepted")
	}
}
