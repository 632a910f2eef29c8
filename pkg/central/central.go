// Package central connects the controller's ACS gates to ACS Central: it
// reads the endpoint and token from a Secret in the CustomRun's own
// namespace — never another's — and keeps one client per Secret, replaced
// when the Secret changes, so each Central's concurrency cap holds across
// runs. The scans made are remembered for a while (the reuse window), in
// one cache bounded in bytes for all Secrets (least recently used out
// first), so a pipeline's ImageScan and ImageCheck of one digest cost
// Central one scan; a scan is never shared between Secrets, and a Secret's
// scans go with its old client when it changes.
package central

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/imageref"
	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// DefaultSecret holds Central's endpoint and token (keys endpoint, token,
// optional ca.crt) in the CustomRun's namespace.
const DefaultSecret = "modelguard-acs"

// ReaderRole is the ClusterRole a namespace binds to let the controller
// read that one Secret (config/220-acs-secret-reader.yaml).
const ReaderRole = "modelguard-acs-secret-reader"

// Clients hands out Central clients by Secret.
type Clients struct {
	Kube kubernetes.Interface
	// MaxConcurrent caps calls in flight per Central (default 5: Central
	// itself runs 5 ad-hoc scans at once by default).
	MaxConcurrent int
	// ReuseWindow: a digest scanned through the same client within it is
	// not scanned again (0 disables).
	ReuseWindow time.Duration
	// MaxCacheBytes bounds the scans kept for reuse, over all Secrets
	// (default DefaultCacheBytes).
	MaxCacheBytes int64
	Now           func() time.Time

	reads   singleflight.Group
	mu      sync.Mutex
	clients map[string]*client // by namespace/secret
	scans   *scanCache
}

// client is one Secret version's Central, with its scans.
type client struct {
	version string // the Secret's resourceVersion
	acs     *acs.Client
	scans   *scanCache // shared; keys carry the client
}

// For returns the Central that Secret name in namespace ns names. When
// the Secret cannot be used, the Central is gate.Unreachable with a message
// that says how to fix it and never contains the Secret's values.
func (c *Clients) For(ctx context.Context, ns, name string) gate.Central {
	cl, err := c.client(ctx, ns, name)
	if err != nil {
		return gate.Unreachable(err)
	}
	return cl
}

// Runtime returns the same Secret's Central for the runtime watch, whose
// calls share the client's concurrency cap but are never cached: a watch
// asks because the answer changes.
func (c *Clients) Runtime(ctx context.Context, ns, name string) gate.RuntimeCentral {
	cl, err := c.client(ctx, ns, name)
	if err != nil {
		return gate.UnreachableRuntime(err)
	}
	return cl.acs
}

func (c *Clients) client(ctx context.Context, ns, name string) (*client, error) {
	// The name is a param: it is checked before it reaches a request, and
	// messages quote at most 64 bytes of it.
	ref := ns + "/" + imageref.Quote(name)
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		return nil, fmt.Errorf("Secret %s: not a valid Secret name", ref)
	}
	// Runs in flight together share one GET (a burst of 100 scans in one
	// namespace reads the Secret a few times, not 100): no answer older
	// than the request it waited on. The shared GET is no one run's, so a
	// run cancelled meanwhile does not fail the others.
	v, err, _ := c.reads.Do(ns+"/"+name, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return c.Kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	})
	sec, _ := v.(*corev1.Secret)
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("Secret %s not found: create it with keys endpoint and token (and ca.crt if Central's certificate is not publicly trusted)", ref)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("the controller may not read Secret %s: bind ClusterRole %s to ServiceAccount modelguard/modelguard-controller in namespace %s", ref, ReaderRole, ns)
	case err != nil:
		return nil, fmt.Errorf("read Secret %s: %s", ref, strings.ReplaceAll(err.Error(), name, imageref.Quote(name)))
	}
	key := ns + "/" + name
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[key]; ok && cl.version == sec.ResourceVersion {
		return cl, nil
	}
	cfg, err := acs.ConfigFromSecretData(sec.Data)
	if err != nil {
		return nil, fmt.Errorf("Secret %s: %v", ref, err)
	}
	cfg.MaxConcurrent = c.MaxConcurrent
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 5
	}
	ac, err := acs.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("Secret %s: %v", ref, err)
	}
	if c.clients == nil {
		c.clients = map[string]*client{}
		c.scans = newScanCache(c.ReuseWindow, c.MaxCacheBytes, c.now)
	}
	if old, ok := c.clients[key]; ok {
		// The Secret changed: its old client (token, CA, connections, and
		// the scans made with them) goes, rather than piling up.
		old.acs.CloseIdleConnections()
		c.scans.forget(old)
	}
	cl := &client{version: sec.ResourceVersion, acs: ac, scans: c.scans}
	c.clients[key] = cl
	return cl, nil
}

func (c *Clients) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ScanImage answers from the client's recent scans of the same reference
// when it can.
func (cl *client) ScanImage(ctx context.Context, req acs.ScanRequest) (*acs.Image, error) {
	key := cacheKey{client: cl, ref: req.Cluster + "\x00" + req.Image}
	if img, ok := cl.scans.get(key); ok {
		return img, nil
	}
	img, err := cl.acs.ScanImage(ctx, req)
	if d, derr := imageref.Digest(req.Image); err == nil && (derr != nil || img.ID == d) {
		// Only an answer about the image asked for is worth keeping: the
		// gate refuses any other, and a cache must not repeat it for ten
		// minutes.
		cl.scans.put(key, img)
	}
	return img, err
}

func (cl *client) DetectBuild(ctx context.Context, req acs.BuildRequest) (*acs.BuildDetectionResponse, error) {
	return cl.acs.DetectBuild(ctx, req)
}

func (cl *client) DetectDeployYAML(ctx context.Context, req acs.DeployRequest) (*acs.DeployDetectionResponse, error) {
	return cl.acs.DetectDeployYAML(ctx, req)
}
