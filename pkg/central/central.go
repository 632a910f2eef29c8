// Package central connects the ACS kinds (ImageScan, ImageCheck) to ACS
// Central: it reads the endpoint and token from a Secret in the CustomRun's
// own namespace — never another's — and keeps one client per Secret
// version, so each Central's concurrency cap holds across runs.
package central

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultSecret holds Central's endpoint and token (keys endpoint, token,
// optional ca.crt) in the CustomRun's namespace.
const DefaultSecret = "modelguard-acs"

// ReasonSecret is the failure reason when the Secret cannot be used.
const ReasonSecret = "ACSSecretUnavailable"

// Clients hands out Central clients by Secret.
type Clients struct {
	Kube kubernetes.Interface
	// MaxConcurrent caps calls in flight per Central (default 5: Central
	// itself runs 5 ad-hoc scans at once by default).
	MaxConcurrent int

	mu      sync.Mutex
	clients map[string]*acs.Client // by namespace/secret@resourceVersion
}

// For returns the client for Secret name in namespace ns. Problems with
// the Secret are *kinds.Failure with reason ReasonSecret and a message that
// says how to fix them; it never contains the Secret's values.
func (c *Clients) For(ctx context.Context, ns, name string) (*acs.Client, error) {
	sec, err := c.Kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, kinds.Deny(ReasonSecret, nil, "Secret %s/%s not found: create it with keys endpoint and token (and ca.crt if Central's certificate is not publicly trusted)", ns, name)
	case apierrors.IsForbidden(err):
		return nil, kinds.Deny(ReasonSecret, nil, "the controller may not read Secret %s/%s: bind ClusterRole modelguard-acs-secret-reader to ServiceAccount modelguard/modelguard-controller in namespace %s", ns, name, ns)
	case err != nil:
		return nil, fmt.Errorf("read Secret %s/%s: %w", ns, name, err)
	}
	key := ns + "/" + name + "@" + sec.ResourceVersion
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[key]; ok {
		return cl, nil
	}
	cfg, err := acs.ConfigFromSecretData(sec.Data)
	if err != nil {
		return nil, kinds.Deny(ReasonSecret, nil, "Secret %s/%s: %v", ns, name, err)
	}
	cfg.MaxConcurrent = c.MaxConcurrent
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 5
	}
	cl, err := acs.New(cfg)
	if err != nil {
		return nil, kinds.Deny(ReasonSecret, nil, "Secret %s/%s: %v", ns, name, err)
	}
	if c.clients == nil {
		c.clients = map[string]*acs.Client{}
	}
	c.clients[key] = cl
	return cl, nil
}

// ReasonCentral is the failure reason when Central could not answer.
const ReasonCentral = "ACSCentralError"

// Failed turns an error from Central into the run's failure. Central's
// "scan could not be completed … [MISSING_SCAN_DATA]" (after the client's
// retries) means there is nothing to judge the image by, which the gates
// report as NoScanData rather than as Central being broken.
func Failed(what string, err error) error {
	if strings.Contains(err.Error(), "MISSING_SCAN_DATA") {
		return kinds.Deny(gate.ReasonNoScanData, nil, "%s: Central has no scan data for the image, so it cannot be passed: %v", what, err)
	}
	return kinds.Deny(ReasonCentral, nil, "%s: %v", what, err)
}

// DetectResults are a policy check's results, always all written: the gate
// outcome, the violated and the enforcement-breaking policies (one per
// line), and a summary.
func DetectResults(r gate.DetectReport) results.Results {
	var violated, breaking []string
	for _, p := range r.Violated {
		violated = append(violated, p.Name)
		if p.Breaking {
			breaking = append(breaking, p.Name)
		}
	}
	return results.Results{
		{Name: "gate", Value: map[bool]string{true: "pass", false: "fail"}[r.Pass]},
		{Name: "violated-policies", Value: fit(strings.Join(violated, "\n"))},
		{Name: "breaking-policies", Value: fit(strings.Join(breaking, "\n"))},
		{Name: "summary", Value: fit(r.Message)},
	}
}

func fit(s string) string {
	if len(s) > 1500 {
		return s[:1480] + "… (cut)"
	}
	return s
}

// ImageParams declares the image params both image kinds take.
func ImageParams(verb string) []kinds.Param {
	return []kinds.Param{
		{Name: "image", Required: true, Description: "image to " + verb + ", pinned by digest (repo@sha256:...)"},
		{Name: "allow-tag", Description: `"true": accept an image reference without a digest (not recommended)`},
	}
}

// Image returns the image param. A reference without a digest is refused
// unless allow-tag is "true": a tag can move, and Central may answer from
// a scan of an older digest.
func Image(v kinds.Values) (string, error) {
	image := v.String("image", "")
	allowTag, err := v.Bool("allow-tag", false)
	if err != nil {
		return "", err
	}
	if !strings.Contains(image, "@sha256:") && !allowTag {
		return "", kinds.Invalid("image", "%s has no digest; use repo@sha256:... (a tag can move, and Central may answer from a scan of an older digest), or set allow-tag", kinds.Quote(image))
	}
	return image, nil
}
