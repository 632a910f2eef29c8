// Package imagescan is the ImageScan custom-task kind: scan an image by
// digest through ACS Central and gate on severity, fixability and an
// allow-list with expiry dates, without a pod.
package imagescan

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/central"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

// Kind is ImageScan.
type Kind struct {
	Central *central.Clients
	// ReuseWindow: a digest scanned through the same Central within it is
	// not scanned again (0 disables).
	ReuseWindow time.Duration
	Now         func() time.Time

	mu    sync.Mutex
	scans map[string]cachedScan // by client (Secret version) + image
}

type cachedScan struct {
	img *acs.Image
	at  time.Time
}

func (*Kind) Name() string { return "ImageScan" }

func (*Kind) Params() []kinds.Param {
	return append(central.ImageParams("scan"),
		kinds.Param{Name: "severity", Description: "fail on CVEs at or above: LOW, MODERATE, IMPORTANT, CRITICAL (default CRITICAL)"},
		kinds.Param{Name: "fixable-only", Description: `"true": only CVEs with a fixed version fail the gate`},
		kinds.Param{Name: "allow", Type: v1beta1.ParamTypeArray, Description: "accepted CVEs: CVE-ID,YYYY-MM-DD,reason (expires after that day)"},
		kinds.Param{Name: "acs-secret", Description: "Secret with endpoint and token, in this namespace (default " + central.DefaultSecret + ")"},
		kinds.Param{Name: "cluster", Description: "delegate the scan to this secured cluster (for registries only it can reach)"},
	)
}

type spec struct {
	image, secret, cluster string
	policy                 gate.ScanPolicy
}

// Plan checks params without I/O.
func (k *Kind) Plan(req kinds.Request) (kinds.Job, error) {
	s := spec{secret: req.Params.String("acs-secret", central.DefaultSecret), cluster: req.Params.String("cluster", "")}
	var errs []error
	var err error
	s.image, err = central.Image(req.Params)
	errs = append(errs, err)
	if sev := req.Params.String("severity", "CRITICAL"); sev != "" {
		if s.policy.Threshold, err = gate.ParseSeverity(sev); err != nil {
			errs = append(errs, kinds.Invalid("severity", "%v", err))
		}
	}
	s.policy.FixableOnly, err = req.Params.Bool("fixable-only", false)
	errs = append(errs, err)
	for _, a := range req.Params.Array("allow") {
		allow, err := gate.ParseAllow(a)
		if err != nil {
			errs = append(errs, kinds.Invalid("allow", "%v", err))
			continue
		}
		s.policy.Allow = append(s.policy.Allow, allow)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (results.Results, error) { return k.run(ctx, req.Namespace, s) }, nil
}

func (k *Kind) run(ctx context.Context, ns string, s spec) (results.Results, error) {
	client, err := k.Central.For(ctx, ns, s.secret)
	if err != nil {
		return nil, err
	}
	img, err := k.scan(ctx, client, s)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, central.Failed("scan "+s.image, err)
	}
	s.policy.Now = k.now()
	report := gate.EvaluateScan(img, s.policy)
	res := Results(report)
	if !report.Pass {
		return nil, kinds.Deny(report.Reason, res, "%s", report.Message)
	}
	return res, nil
}

// scan asks Central, or reuses a scan of the same reference made with the
// same credentials (the same Secret version) within the reuse window. A
// scan is never shared across Secrets: another namespace, or a wrong
// token, must ask Central itself.
func (k *Kind) scan(ctx context.Context, c *acs.Client, s spec) (*acs.Image, error) {
	key := fmt.Sprintf("%p", c) + "\x00" + s.cluster + "\x00" + s.image
	k.mu.Lock()
	if hit, ok := k.scans[key]; ok && k.ReuseWindow > 0 && k.now().Sub(hit.at) < k.ReuseWindow {
		k.mu.Unlock()
		return hit.img, nil
	}
	k.mu.Unlock()
	img, err := c.ScanImage(ctx, acs.ScanRequest{Image: s.image, Cluster: s.cluster})
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if k.scans == nil {
		k.scans = map[string]cachedScan{}
	}
	for old, hit := range k.scans { // keep the cache to the window
		if k.now().Sub(hit.at) >= k.ReuseWindow {
			delete(k.scans, old)
		}
	}
	if k.ReuseWindow > 0 {
		k.scans[key] = cachedScan{img: img, at: k.now()}
	}
	k.mu.Unlock()
	return img, nil
}

func (k *Kind) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Results are always all written: the gate outcome, counts per severity
// (and fixable counts), the scanner, scan notes and the worst CVEs.
func Results(r gate.ScanReport) results.Results {
	out := results.Results{{Name: "gate", Value: map[bool]string{true: "pass", false: "fail"}[r.Pass]}}
	for _, sev := range []string{"CRITICAL", "IMPORTANT", "MODERATE", "LOW"} {
		out = append(out, results.Result{Name: strings.ToLower(sev), Value: strconv.Itoa(r.Counts[sev])},
			results.Result{Name: "fixable-" + strings.ToLower(sev), Value: strconv.Itoa(r.FixableCounts[sev])})
	}
	var top []string
	for i, f := range r.Blocking {
		if i == 5 {
			top = append(top, fmt.Sprintf("… and %d more", len(r.Blocking)-5))
			break
		}
		top = append(top, fmt.Sprintf("%s %s %s@%s fixed:%s", f.CVE, f.Sev, f.Component, f.Version, orNone(f.FixedBy)))
	}
	return append(out,
		results.Result{Name: "scanner", Value: strings.TrimSpace(r.DataSource + " " + r.ScannerVersion)},
		results.Result{Name: "notes", Value: strings.Join(r.Notes, ",")},
		results.Result{Name: "top-cves", Value: strings.Join(top, "\n")},
		results.Result{Name: "summary", Value: r.Message})
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
