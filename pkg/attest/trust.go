package attest

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// TrustPolicy is the one trust config admission policies are rendered
// from: which repositories it covers, which keys sign what, and what an
// image must carry to run in the namespaces it names.
//
//	apiVersion: modelguard.dev/v1alpha1
//	kind: TrustPolicy
//	metadata: {name: models}
//	spec:
//	  repositories: [registry.example.com/models]
//	  namespaces: [fraud-prod]
//	  signer: {publicKeyFile: chains.pub}       # signs the image and its build provenance
//	  attestor: {publicKeyFile: modelguard.pub} # signs the scan (default: the signer)
//	  require:
//	    provenance: true                        # SLSA v1 build provenance by the signer
//	    scan: {maxAge: 24h}                     # a passed vuln attestation, no older
type TrustPolicy struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec TrustSpec `json:"spec"`
}

// TrustSpec is a TrustPolicy's body.
type TrustSpec struct {
	// Repositories are image repository prefixes, e.g.
	// registry.example.com/models: every image under them is covered.
	Repositories []string `json:"repositories"`
	// Namespaces the policy is enforced in; none means the whole cluster
	// (policy-controller still enforces only in namespaces labelled
	// policy.sigstore.dev/include=true).
	Namespaces []string  `json:"namespaces,omitempty"`
	Signer     TrustKey  `json:"signer"`
	Attestor   *TrustKey `json:"attestor,omitempty"`
	Require    struct {
		Provenance bool `json:"provenance,omitempty"`
		Scan       *struct {
			MaxAge string `json:"maxAge"`
		} `json:"scan,omitempty"`
	} `json:"require,omitempty"`
}

// TrustKey is a public key, inline (PEM) or in a file next to the config.
type TrustKey struct {
	PublicKey     string `json:"publicKey,omitempty"`
	PublicKeyFile string `json:"publicKeyFile,omitempty"`
}

// Trust is a checked TrustPolicy, ready to render.
type Trust struct {
	name                 string
	repositories, spaces []string
	signer, attestor     []byte
	provenance           bool
	maxScanAge           time.Duration
}

// ParseTrustPolicy reads and checks a TrustPolicy; readFile reads a
// publicKeyFile, relative to dir. Every problem is reported, by field.
func ParseTrustPolicy(data []byte, dir string, readFile func(string) ([]byte, error)) (*Trust, error) {
	var tp TrustPolicy
	if err := yaml.UnmarshalStrict(data, &tp); err != nil {
		return nil, fmt.Errorf("trust policy: %w", err)
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if tp.APIVersion != "modelguard.dev/v1alpha1" || tp.Kind != "TrustPolicy" {
		bad("apiVersion/kind", "want modelguard.dev/v1alpha1 TrustPolicy, got %q %q", cut(tp.APIVersion, 64), cut(tp.Kind, 64))
	}
	t := &Trust{name: tp.Metadata.Name, spaces: tp.Spec.Namespaces, provenance: tp.Spec.Require.Provenance}
	// The name prefixes the rendered objects' names ("-signature" etc.).
	if msgs := validation.IsDNS1123Label(t.name); len(msgs) > 0 || len(t.name) > 40 {
		bad("metadata.name", "%q: want a DNS label of at most 40 characters", cut(t.name, 64))
	}
	if len(tp.Spec.Repositories) == 0 {
		bad("spec.repositories", "name at least one repository, e.g. registry.example.com/models")
	}
	for i, r := range tp.Spec.Repositories {
		repo, err := name.NewRepository(r, name.StrictValidation)
		switch {
		// A port is fine (registry.local:5000/models); a ':' in the last
		// path element is a tag.
		case strings.ContainsAny(r, "*@") || strings.Contains(r[strings.LastIndex(r, "/")+1:], ":"):
			bad(fmt.Sprintf("spec.repositories[%d]", i), "%q: a repository prefix, without wildcards, tag or digest", cut(r, 64))
		case err != nil || !strings.Contains(r, "/"):
			bad(fmt.Sprintf("spec.repositories[%d]", i), "%q: want <registry>/<path>", cut(r, 64))
		default:
			t.repositories = append(t.repositories, repo.Name())
		}
	}
	for i, ns := range t.spaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			bad(fmt.Sprintf("spec.namespaces[%d]", i), "%q is not a namespace name", cut(ns, 64))
		}
	}
	load := func(field string, k TrustKey) []byte {
		pem := []byte(k.PublicKey)
		switch {
		case (k.PublicKey == "") == (k.PublicKeyFile == ""):
			bad(field, "give publicKey or publicKeyFile")
			return nil
		case k.PublicKeyFile != "":
			p := k.PublicKeyFile
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := readFile(p)
			if err != nil {
				bad(field+".publicKeyFile", "%v", err)
				return nil
			}
			pem = b
		}
		if err := CheckPublicKey(pem); err != nil {
			bad(field, "%v", err)
		}
		return pem
	}
	t.signer = load("spec.signer", tp.Spec.Signer)
	t.attestor = t.signer
	if tp.Spec.Attestor != nil {
		t.attestor = load("spec.attestor", *tp.Spec.Attestor)
	}
	if s := tp.Spec.Require.Scan; s != nil {
		d, err := ParseMaxAge(s.MaxAge)
		if err != nil {
			bad("spec.require.scan.maxAge", "%v", err)
		}
		t.maxScanAge = d
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}
