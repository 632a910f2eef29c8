package attest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/modelguard/modelguard/pkg/results"
)

// Reasons VerifyImage says no, one per way an image can be untrustworthy.
const (
	ReasonTagMoved             = "TagMoved"             // the tag now names another image (re-pushed)
	ReasonNotSigned            = "NotSigned"            // no signature at all
	ReasonWrongKey             = "WrongKey"             // signed, but not by the key
	ReasonNoProvenance         = "NoProvenance"         // no build provenance by the key
	ReasonWrongBuilder         = "WrongBuilder"         // provenance by another builder
	ReasonWrongTask            = "WrongTask"            // built by another Task
	ReasonWrongSource          = "WrongSource"          // built from another repository or revision
	ReasonNoPipelineProvenance = "NoPipelineProvenance" // no pipeline provenance by the attestor key
	ReasonWrongNamespace       = "WrongNamespace"       // the pipeline ran in another namespace
	ReasonNotFromPipeline      = "NotFromPipeline"      // the build TaskRun is not one of the pipeline's
	ReasonGateMissing          = "GateMissing"          // a required gate did not run
	ReasonGateFailed           = "GateFailed"           // a required gate ran and failed
	ReasonNoScan               = "NoScan"               // no vuln attestation by the attestor key
	ReasonScanFailed           = "ScanFailed"           // the scan gate said no
	ReasonScanTooOld           = "ScanTooOld"           // the newest scan is older than allowed
)

// ImagePolicy is what VerifyImage requires of an image. Only the key is
// required; every other check runs when its fields are set.
type ImagePolicy struct {
	// Image is repo@sha256:<digest>, or repo:tag@sha256:<digest> to also
	// require that the tag still names that digest.
	Image string
	// Key verifies the image's signature and its build provenance (the
	// key Tekton Chains signs with), PEM.
	Key []byte
	// AttestorKey verifies modelguard's statements (scan, gate verdicts,
	// pipeline provenance): the key of the namespace's signing Secret.
	// Empty means Key.
	AttestorKey []byte

	// The build provenance: builder id, the Task that built the image
	// (e.g. model-image-build), the source repository and revision.
	BuilderID, BuildTask, SourceRepository, SourceRevision string

	// The pipeline provenance: the namespace the pipeline ran in, and the
	// gates (pipeline task names, or kinds such as ImageScan) that must
	// have run and passed. With build checks too, the build TaskRun must
	// be one of the pipeline's.
	Namespace     string
	RequiredGates []string

	// MaxScanAge > 0 requires a passed vuln attestation no older than it.
	MaxScanAge time.Duration

	Now      func() time.Time
	Remote   []remote.Option
	Insecure bool
}

// ImageReport is VerifyImage's answer: every check that ran, and the
// first that failed as Reason.
type ImageReport struct {
	Image   string       `json:"image"`
	Digest  string       `json:"digest"`
	Pass    bool         `json:"pass"`
	Reason  string       `json:"reason,omitempty"`
	Message string       `json:"message"`
	Checks  []ImageCheck `json:"checks"`
}

// ImageCheck is one check's outcome.
type ImageCheck struct {
	Name   string `json:"name"` // tag, signature, build-provenance, pipeline-provenance, scan
	Pass   bool   `json:"pass"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail"`
}

// Check names.
const (
	CheckTag      = "tag"
	CheckSig      = "signature"
	CheckBuild    = "build-provenance"
	CheckPipeline = "pipeline-provenance"
	CheckScan     = "scan"
)

// VerifyImage checks an image against a policy, offline, with cosign's
// verification code. A nil error means every check ran; the report says
// whether the image passed. An error means it could not be checked (bad
// input, the registry unreachable).
func VerifyImage(ctx context.Context, p ImagePolicy) (ImageReport, error) {
	if len(p.AttestorKey) == 0 {
		p.AttestorKey = p.Key
	}
	if err := CheckPublicKey(p.Key); err != nil {
		return ImageReport{}, fmt.Errorf("key: %w", err)
	}
	if err := CheckPublicKey(p.AttestorKey); err != nil {
		return ImageReport{}, fmt.Errorf("attestor key: %w", err)
	}
	d, tag, err := pinned(p.Image, p.Insecure)
	if err != nil {
		return ImageReport{}, err
	}
	v := &verification{p: p, d: d, r: ImageReport{Image: p.Image, Digest: d.DigestStr()}}
	if tag != nil {
		if err := v.tag(ctx, *tag); err != nil {
			return ImageReport{}, err
		}
	}
	if err := v.signature(ctx); err != nil {
		return ImageReport{}, err
	}
	signed, err := v.attestations(ctx, p.Key)
	if err != nil {
		return ImageReport{}, err
	}
	attested := signed
	if !bytes.Equal(p.AttestorKey, p.Key) {
		if attested, err = v.attestations(ctx, p.AttestorKey); err != nil {
			return ImageReport{}, err
		}
	}
	build := v.build(signed)
	v.pipeline(attested, build)
	v.scan(attested)
	v.r.Pass = true
	for _, c := range v.r.Checks {
		if !c.Pass {
			v.r.Pass, v.r.Reason, v.r.Message = false, c.Reason, c.Name+": "+c.Detail
			break
		}
	}
	if v.r.Pass {
		var names []string
		for _, c := range v.r.Checks {
			names = append(names, c.Name)
		}
		v.r.Message = fmt.Sprintf("%s verified: %s", d.DigestStr(), strings.Join(names, ", "))
	}
	return v.r, nil
}

type verification struct {
	p ImagePolicy
	d name.Digest
	r ImageReport
}

func (v *verification) add(name string, pass bool, reason, format string, args ...any) {
	c := ImageCheck{Name: name, Pass: pass, Detail: fmt.Sprintf(format, args...)}
	if !pass {
		c.Reason = reason
	}
	v.r.Checks = append(v.r.Checks, c)
}

// pinned parses repo[:tag]@sha256:<hex>.
func pinned(ref string, insecure bool) (name.Digest, *name.Tag, error) {
	d, err := digestRef(ref, insecure)
	if err != nil {
		return name.Digest{}, nil, err
	}
	base, _, _ := strings.Cut(ref, "@")
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	clean := d.Context().Digest(d.DigestStr())
	if !strings.Contains(base[strings.LastIndexByte(base, '/')+1:], ":") {
		return clean, nil, nil // no tag: name.NewTag would assume "latest"
	}
	t, err := name.NewTag(base, opts...)
	if err != nil {
		return name.Digest{}, nil, fmt.Errorf("image %q: %v", cut(ref, 200), err)
	}
	return clean, &t, nil
}

func (v *verification) tag(ctx context.Context, t name.Tag) error {
	desc, err := remote.Head(t, registryOptions(ctx, v.p.Remote)...)
	var terr *transport.Error
	switch {
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
		v.add(CheckTag, false, ReasonTagMoved, "%s no longer exists; the image was verified by digest %s", t, v.d.DigestStr())
	case err != nil:
		return fmt.Errorf("resolve %s: %w", t, err)
	case desc.Digest.String() != v.d.DigestStr():
		v.add(CheckTag, false, ReasonTagMoved, "%s now names %s, not %s: the image was re-pushed under the tag", t, desc.Digest, v.d.DigestStr())
	default:
		v.add(CheckTag, true, "", "%s names %s", t, v.d.DigestStr())
	}
	return nil
}

func (v *verification) opts(key []byte) VerifyOptions {
	return VerifyOptions{PublicKey: key, Remote: v.p.Remote, Insecure: v.p.Insecure}
}

func (v *verification) signature(ctx context.Context) error {
	n, err := Signatures(ctx, v.d.String(), v.opts(v.p.Key))
	switch {
	case errors.Is(err, ErrNotSigned):
		v.add(CheckSig, false, ReasonNotSigned, "%s has no signature", v.d.DigestStr())
	case errors.Is(err, ErrWrongKey):
		v.add(CheckSig, false, ReasonWrongKey, "%s is signed, but by another key", v.d.DigestStr())
	case err != nil:
		return err
	default:
		v.add(CheckSig, true, "", "%d signature(s) verify with the key", n)
	}
	return nil
}

// attestations returns the statements that verify with key and name the
// image; none is not an error here (the checks say what is missing).
func (v *verification) attestations(ctx context.Context, key []byte) ([]Attestation, error) {
	atts, err := Attestations(ctx, v.d.String(), v.opts(key))
	if errors.Is(err, ErrNotAttested) || errors.Is(err, ErrWrongKey) || errors.Is(err, ErrNotSigned) {
		return nil, nil
	}
	return atts, err
}

// Results are VerifyImage's results, the same for the VerifyImage kind and
// the verify-image Task, always all written: verified (true/false), the
// reason, the digest, one result per check (pass, "fail: <Reason>", or
// skipped) and a summary.
func (r ImageReport) Results() results.Results {
	out := results.Results{
		{Name: "verified", Value: strconv.FormatBool(r.Pass)},
		{Name: "reason", Value: r.Reason},
		{Name: "digest", Value: r.Digest},
	}
	for _, name := range []string{CheckTag, CheckSig, CheckBuild, CheckPipeline, CheckScan} {
		val := "skipped"
		for _, c := range r.Checks {
			if c.Name == name {
				val = "pass"
				if !c.Pass {
					val = "fail: " + c.Reason
				}
			}
		}
		out = append(out, results.Result{Name: name, Value: val})
	}
	return append(out, results.Result{Name: "summary", Value: results.Fit(r.Message, 1500)})
}

// ResultNames lists the results Results writes, for a Task's declaration.
var ResultNames = []string{"verified", "reason", "digest", CheckTag, CheckSig, CheckBuild, CheckPipeline, CheckScan, "summary"}

// CheckImageRef says whether ref names an image by digest, as VerifyImage
// wants it.
func CheckImageRef(ref string) error {
	_, _, err := pinned(ref, false)
	return err
}

// MaxWait bounds how long VerifyImage waits for a signature and build
// provenance: Chains signs within seconds of a build, and a run that
// waits longer is stuck, not patient.
const MaxWait = time.Hour

// ParseWait reads how long to wait: a Go duration from 0s to MaxWait.
func ParseWait(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > MaxWait {
		return 0, fmt.Errorf("%q: want a duration from 0s to 1h", cut(s, 64))
	}
	return d, nil
}

// ParseMaxAge reads a maximum scan age: a Go duration ("36h") or whole
// days ("7d"), more than zero and at most a year.
func ParseMaxAge(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if n, err = strconv.Atoi(days); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 || d > 366*24*time.Hour {
		return 0, fmt.Errorf("%q: want a duration such as 24h or 7d, at most a year", cut(s, 64))
	}
	return d, nil
}
