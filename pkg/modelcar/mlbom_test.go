package modelcar

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The subset of CycloneDX we read back: parsing the output, rather than
// comparing it to a golden file, keeps the test about meaning, not layout.
type parsedBOM struct {
	BOMFormat    string `json:"bomFormat"`
	SpecVersion  string `json:"specVersion"`
	SerialNumber string `json:"serialNumber"`
	Version      int    `json:"version"`
	Metadata     struct {
		Timestamp string     `json:"timestamp"`
		Component parsedComp `json:"component"`
	} `json:"metadata"`
	Components   []parsedComp `json:"components"`
	Dependencies []struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	} `json:"dependencies"`
}

type parsedComp struct {
	Type    string `json:"type"`
	BOMRef  string `json:"bom-ref"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Hashes  []struct {
		Alg     string `json:"alg"`
		Content string `json:"content"`
	} `json:"hashes"`
	Properties []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"properties"`
}

func sampleBOMInput() BOMInput {
	return BOMInput{
		ModelName: "granite-3b", ModelVersion: "1.0", Runtime: "vllm",
		// Deliberately unsorted: the output must not depend on input order.
		Files: []BOMFile{
			{Path: "models/model-00002.safetensors", Size: 2048, SHA256: strings.Repeat("b", 64)},
			{Path: "models/config.json", Size: 12, SHA256: strings.Repeat("c", 64)},
			{Path: "models/model-00001.safetensors", Size: 1024, SHA256: strings.Repeat("a", 64)},
		},
		Image:     "quay.io/acme/granite@sha256:" + strings.Repeat("1", 64),
		BaseImage: "registry.example.com/ubi9@sha256:" + strings.Repeat("2", 64),
		Source:    "https://git.example.com/acme/granite", Revision: "abc123", Licenses: "Apache-2.0",
		Created: time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600)),
	}
}

func TestWriteMLBOM(t *testing.T) {
	in := sampleBOMInput()
	var a, b bytes.Buffer
	if err := WriteMLBOM(&a, in); err != nil {
		t.Fatal(err)
	}
	// Reproducible builds need identical bytes, not just equal JSON.
	in.Files[0], in.Files[2] = in.Files[2], in.Files[0]
	if err := WriteMLBOM(&b, in); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two calls differ:\n%s\n---\n%s", a.String(), b.String())
	}
	if !bytes.HasSuffix(a.Bytes(), []byte("}\n")) || !bytes.HasPrefix(a.Bytes(), []byte("{\n  \"bomFormat\"")) {
		t.Errorf("want two-space indent and a trailing newline, got:\n%s", a.String())
	}

	var got parsedBOM
	if err := json.Unmarshal(a.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.BOMFormat != "CycloneDX" || got.SpecVersion != "1.6" || got.Version != 1 {
		t.Errorf("header = %q %q %d", got.BOMFormat, got.SpecVersion, got.Version)
	}
	// The 1.6 schema's pattern for serialNumber.
	if !regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(got.SerialNumber) {
		t.Errorf("serialNumber %q", got.SerialNumber)
	}
	if got.Metadata.Timestamp != "2024-05-01T10:00:00Z" {
		t.Errorf("timestamp %q, want Created in UTC", got.Metadata.Timestamp)
	}
	img := got.Metadata.Component
	if img.Type != "container" || img.Name != "quay.io/acme/granite" || img.Version != "sha256:"+strings.Repeat("1", 64) {
		t.Errorf("metadata.component = %+v", img)
	}

	refs := map[string]bool{img.BOMRef: true}
	types := map[string]int{}
	hashes := map[string]string{}
	var paths []string
	for _, c := range got.Components {
		if c.BOMRef == "" || refs[c.BOMRef] {
			t.Errorf("bom-ref %q empty or duplicated", c.BOMRef)
		}
		refs[c.BOMRef] = true
		types[c.Type]++
		if c.Type == "file" {
			paths = append(paths, c.Name)
			if len(c.Hashes) == 1 && c.Hashes[0].Alg == "SHA-256" {
				hashes[c.Name] = c.Hashes[0].Content
			}
		}
		if c.Type == "machine-learning-model" &&
			(len(c.Properties) != 1 || c.Properties[0].Name != "modelguard:runtime" || c.Properties[0].Value != "vllm") {
			t.Errorf("model properties = %+v", c.Properties)
		}
	}
	if types["machine-learning-model"] != 1 || types["file"] != 3 || types["container"] != 1 {
		t.Errorf("component types = %v", types)
	}
	if strings.Join(paths, ",") != "models/config.json,models/model-00001.safetensors,models/model-00002.safetensors" {
		t.Errorf("files not sorted by path: %v", paths)
	}
	for _, f := range in.Files {
		if hashes[f.Path] != f.SHA256 {
			t.Errorf("%s: SHA-256 %q, want %q", f.Path, hashes[f.Path], f.SHA256)
		}
	}
	// Every dependency edge must point at a declared bom-ref, and the image
	// must reach the model and the base, the model every file.
	edges := 0
	for _, d := range got.Dependencies {
		for _, r := range append([]string{d.Ref}, d.DependsOn...) {
			if !refs[r] {
				t.Errorf("dependency on unknown bom-ref %q", r)
			}
		}
		edges += len(d.DependsOn)
	}
	if edges != 2+3 {
		t.Errorf("got %d dependency edges, want 5", edges)
	}
}

func TestWriteMLBOMRejectsBadInput(t *testing.T) {
	for field, mutate := range map[string]func(*BOMInput){
		"Files":     func(in *BOMInput) { in.Files = nil },
		"Image":     func(in *BOMInput) { in.Image = "quay.io/acme/granite:latest" },
		"BaseImage": func(in *BOMInput) { in.BaseImage = "ubi9:9.4" },
		"Runtime":   func(in *BOMInput) { in.Runtime = "tgis" },
		"Created":   func(in *BOMInput) { in.Created = time.Time{} },
		"SHA256":    func(in *BOMInput) { in.Files[0].SHA256 = "ABC" },
		"Path":      func(in *BOMInput) { in.Files[1].Path = in.Files[0].Path },
	} {
		in := sampleBOMInput()
		mutate(&in)
		var out bytes.Buffer
		err := WriteMLBOM(&out, in)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error = %v, want one naming the field", field, err)
		}
		if out.Len() != 0 {
			t.Errorf("%s: wrote output despite the error", field)
		}
	}
}
