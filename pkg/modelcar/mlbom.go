package modelcar

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BOMFile is one model file baked into the image.
type BOMFile struct {
	Path   string // path inside the image, e.g. models/model-00001.safetensors
	Size   int64
	SHA256 string // lowercase hex
}

// BOMInput describes a built model-serving image for WriteMLBOM.
type BOMInput struct {
	ModelName    string // e.g. "granite-3b"
	ModelVersion string // may be ""
	Runtime      string // vllm, ovms, triton, caikit, none
	Files        []BOMFile
	Image        string // repo@sha256:... of the built image
	BaseImage    string // repo@sha256:... of the base; "" for an image built FROM scratch
	// From the OCI annotations (org.opencontainers.image.*); each may be "".
	Source, Revision, Licenses string
	Created                    time.Time // the build's fixed timestamp (SOURCE_DATE_EPOCH), not time.Now
}

var (
	digestRef = regexp.MustCompile(`^[^@\s]+@sha256:[0-9a-f]{64}$`)
	sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)
	runtimes  = []string{"caikit", "none", "ovms", "triton", "vllm"}
)

// The CycloneDX 1.6 JSON shapes we emit. Structs, not maps, so that field
// order in the output is fixed by declaration order.
type (
	cdxBOM struct {
		BOMFormat    string       `json:"bomFormat"`
		SpecVersion  string       `json:"specVersion"`
		SerialNumber string       `json:"serialNumber"`
		Version      int          `json:"version"`
		Metadata     cdxMetadata  `json:"metadata"`
		Components   []cdxComp    `json:"components"`
		Dependencies []cdxDepends `json:"dependencies"`
	}
	cdxMetadata struct {
		Timestamp string   `json:"timestamp"`
		Tools     cdxTools `json:"tools"`
		Component cdxComp  `json:"component"`
	}
	cdxTools struct {
		Components []cdxComp `json:"components"`
	}
	cdxComp struct {
		Type       string       `json:"type"`
		BOMRef     string       `json:"bom-ref,omitempty"`
		Name       string       `json:"name"`
		Version    string       `json:"version,omitempty"`
		Hashes     []cdxHash    `json:"hashes,omitempty"`
		Licenses   []cdxLicense `json:"licenses,omitempty"`
		ExtRefs    []cdxExtRef  `json:"externalReferences,omitempty"`
		Properties []cdxProp    `json:"properties,omitempty"`
	}
	cdxHash struct {
		Alg     string `json:"alg"`
		Content string `json:"content"`
	}
	cdxLicense struct {
		Expression string `json:"expression"` // OCI's licenses annotation is an SPDX expression
	}
	cdxExtRef struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	}
	cdxProp struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	cdxDepends struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	}
)

// WriteMLBOM writes a CycloneDX 1.6 ML-BOM for the image in to w. Equal input
// gives identical bytes, so the BOM can itself be a reproducible layer or an
// attestation subject.
func WriteMLBOM(w io.Writer, in BOMInput) error {
	if err := validateBOMInput(in); err != nil {
		return err
	}
	files := append([]BOMFile(nil), in.Files...) // sort a copy; the caller's slice is not ours
	slices.SortFunc(files, func(a, b BOMFile) int { return strings.Compare(a.Path, b.Path) })

	imageName, imageDigest, _ := strings.Cut(in.Image, "@")
	image := cdxComp{Type: "container", BOMRef: "image:" + in.Image, Name: imageName, Version: imageDigest}
	if in.Licenses != "" {
		image.Licenses = []cdxLicense{{Expression: in.Licenses}}
	}
	if in.Source != "" {
		image.ExtRefs = []cdxExtRef{{Type: "vcs", URL: in.Source}}
	}
	if in.Revision != "" {
		image.Properties = []cdxProp{{Name: "modelguard:revision", Value: in.Revision}}
	}

	model := cdxComp{
		Type: "machine-learning-model", BOMRef: "model:" + in.ModelName,
		Name: in.ModelName, Version: in.ModelVersion,
		Properties: []cdxProp{{Name: "modelguard:runtime", Value: in.Runtime}},
	}
	comps := []cdxComp{model}
	modelDeps := make([]string, 0, len(files))
	for _, f := range files {
		ref := "file:" + f.Path // paths are unique (validated), so refs are too
		modelDeps = append(modelDeps, ref)
		comps = append(comps, cdxComp{
			Type: "file", BOMRef: ref, Name: f.Path,
			Hashes: []cdxHash{{Alg: "SHA-256", Content: f.SHA256}},
			Properties: []cdxProp{
				{Name: "modelguard:path", Value: f.Path},
				{Name: "modelguard:size", Value: strconv.FormatInt(f.Size, 10)},
			},
		})
	}
	imageDeps := []string{model.BOMRef}
	if in.BaseImage != "" {
		baseName, baseDigest, _ := strings.Cut(in.BaseImage, "@")
		base := cdxComp{Type: "container", BOMRef: "base:" + in.BaseImage, Name: baseName, Version: baseDigest}
		comps = append(comps, base)
		imageDeps = append(imageDeps, base.BOMRef)
	}

	bom := cdxBOM{
		BOMFormat:    "CycloneDX",
		SpecVersion:  "1.6",
		SerialNumber: "urn:uuid:" + nameUUID(in.Image),
		Version:      1,
		Metadata: cdxMetadata{
			Timestamp: in.Created.UTC().Format(time.RFC3339),
			Tools:     cdxTools{Components: []cdxComp{{Type: "application", Name: "modelguard"}}},
			Component: image,
		},
		Components: comps,
		Dependencies: []cdxDepends{
			{Ref: image.BOMRef, DependsOn: imageDeps},
			{Ref: model.BOMRef, DependsOn: modelDeps},
		},
	}
	enc := json.NewEncoder(w) // Encode appends the trailing newline
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // keep '&' in URLs readable; output stays deterministic
	return enc.Encode(bom)
}

// validateBOMInput rejects input that would give an invalid or misleading BOM;
// each error names the offending BOMInput field.
func validateBOMInput(in BOMInput) error {
	var errs []error
	if in.ModelName == "" {
		errs = append(errs, errors.New("mlbom: ModelName is empty"))
	}
	if !slices.Contains(runtimes, in.Runtime) {
		errs = append(errs, fmt.Errorf("mlbom: Runtime %q is not one of %v", in.Runtime, runtimes))
	}
	if !digestRef.MatchString(in.Image) {
		errs = append(errs, fmt.Errorf("mlbom: Image %q is not repo@sha256:<64 hex>", in.Image))
	}
	if in.BaseImage != "" && !digestRef.MatchString(in.BaseImage) {
		errs = append(errs, fmt.Errorf("mlbom: BaseImage %q is not repo@sha256:<64 hex>", in.BaseImage))
	}
	if in.Created.IsZero() {
		errs = append(errs, errors.New("mlbom: Created is zero; pass the build's SOURCE_DATE_EPOCH time"))
	}
	if len(in.Files) == 0 {
		errs = append(errs, errors.New("mlbom: Files is empty; a model image without model files is a bug"))
	}
	seen := make(map[string]bool, len(in.Files))
	for i, f := range in.Files {
		switch {
		case f.Path == "" || seen[f.Path]:
			errs = append(errs, fmt.Errorf("mlbom: Files[%d].Path %q is empty or duplicated", i, f.Path))
		case !sha256Hex.MatchString(f.SHA256):
			errs = append(errs, fmt.Errorf("mlbom: Files[%d].SHA256 for %q is not 64 lowercase hex", i, f.Path))
		case f.Size < 0:
			errs = append(errs, fmt.Errorf("mlbom: Files[%d].Size for %q is negative", i, f.Path))
		}
		seen[f.Path] = true
	}
	return errors.Join(errs...)
}

// nameUUID derives a name-based UUID (RFC 9562 version 8, SHA-256) from the
// full image reference: the same image always gets the same serial number, and
// the same digest published under another repository gets a different one,
// since that BOM names a different component.
func nameUUID(s string) string {
	sum := sha256.Sum256([]byte("modelguard/mlbom\x00" + s))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
