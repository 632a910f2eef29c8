package modelcar

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Runtime is the serving runtime whose model layout the image must match.
type Runtime string

// Runtimes OpenShift AI / KServe serve from /mnt/models.
const (
	VLLM   Runtime = "vllm"   // Hugging Face layout: config.json and weights at the root
	OVMS   Runtime = "ovms"   // OpenVINO Model Server: numbered version directories
	Triton Runtime = "triton" // config.pbtxt and numbered version directories per model
	Caikit Runtime = "caikit" // Caikit/TGIS: an artifacts/ directory
	None   Runtime = "none"   // no check
)

// Runtimes lists them for help texts and validation.
var Runtimes = []Runtime{VLLM, OVMS, Triton, Caikit, None}

// ParseRuntime reads a runtime name.
func ParseRuntime(s string) (Runtime, error) {
	for _, r := range Runtimes {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("runtime %q: want vllm, ovms, triton, caikit or none", s)
}

var weightSuffixes = []string{".safetensors", ".bin", ".pt", ".pth", ".gguf"}

// CheckLayout says, before anything is pushed, what a runtime would miss in
// the model's files.
func CheckLayout(r Runtime, files []File) error {
	var names []string
	for _, f := range files {
		names = append(names, f.Rel)
	}
	switch r {
	case None:
		return nil
	case VLLM:
		return checkVLLM(names)
	case OVMS:
		return checkOVMS(names)
	case Triton:
		return checkTriton(names)
	case Caikit:
		return checkCaikit(names)
	}
	return fmt.Errorf("runtime %q: want vllm, ovms, triton, caikit or none", r)
}

func checkVLLM(names []string) error {
	hasConfig, hasWeights := false, false
	for _, n := range names {
		if n == "config.json" {
			hasConfig = true
		}
		if !strings.Contains(n, "/") && hasSuffix(n, weightSuffixes) {
			hasWeights = true
		}
	}
	switch {
	case !hasConfig:
		return fmt.Errorf("vllm: config.json is missing at the model root (a Hugging Face model directory is expected)")
	case !hasWeights:
		return fmt.Errorf("vllm: no weights at the model root (want *.safetensors, *.bin, *.pt, *.pth or *.gguf next to config.json)")
	}
	return nil
}

// checkOVMS wants <version>/... with numeric versions, e.g. 1/model.xml.
func checkOVMS(names []string) error {
	versions := 0
	for _, n := range names {
		top, rest, nested := strings.Cut(n, "/")
		if !nested {
			return fmt.Errorf("ovms: %s is at the model root; OpenVINO Model Server wants files under numbered version directories (1/, 2/, ...)", n)
		}
		if !isVersion(top) {
			return fmt.Errorf("ovms: directory %s/ is not a version number; want 1/, 2/, ... at the model root", top)
		}
		if rest != "" {
			versions++
		}
	}
	if versions == 0 {
		return fmt.Errorf("ovms: no numbered version directory with files (want e.g. 1/model.xml and 1/model.bin)")
	}
	return nil
}

// checkTriton wants, for each model directory (the root or first-level
// directories), a config.pbtxt and at least one numbered version dir.
func checkTriton(names []string) error {
	type model struct{ config, version bool }
	models := map[string]*model{}
	get := func(k string) *model {
		if models[k] == nil {
			models[k] = &model{}
		}
		return models[k]
	}
	for _, n := range names {
		parts := strings.Split(n, "/")
		switch {
		case len(parts) == 1 && parts[0] == "config.pbtxt":
			get("").config = true
		case len(parts) >= 2 && isVersion(parts[0]):
			get("").version = true
		case len(parts) == 2 && parts[1] == "config.pbtxt":
			get(parts[0]).config = true
		case len(parts) >= 3 && isVersion(parts[1]):
			get(parts[0]).version = true
		}
	}
	if len(models) == 0 {
		return fmt.Errorf("triton: no config.pbtxt and no numbered version directory (want <model>/config.pbtxt and <model>/1/...)")
	}
	for name, m := range models {
		where := "the model root"
		if name != "" {
			where = name + "/"
		}
		if !m.config {
			return fmt.Errorf("triton: config.pbtxt is missing in %s", where)
		}
		if !m.version {
			return fmt.Errorf("triton: no numbered version directory (1/, 2/, ...) in %s", where)
		}
	}
	return nil
}

func checkCaikit(names []string) error {
	for _, n := range names {
		if strings.HasPrefix(n, "artifacts/") {
			return nil
		}
	}
	return fmt.Errorf("caikit: artifacts/ is missing (Caikit/TGIS serves the model from an artifacts/ directory)")
}

func isVersion(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && strconv.Itoa(n) == s
}

func hasSuffix(name string, suffixes []string) bool {
	ext := strings.ToLower(path.Ext(name))
	for _, s := range suffixes {
		if ext == s {
			return true
		}
	}
	return false
}
