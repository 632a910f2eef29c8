package attest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/modelguard/modelguard/pkg/registry"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	rekorclient "github.com/sigstore/rekor/pkg/client"
	rekorapi "github.com/sigstore/rekor/pkg/generated/client"
	"github.com/sigstore/rekor/pkg/generated/models"
)

type (
	rekorClient = rekorapi.Rekor
	rekorEntry  = models.LogEntryAnon
)

// WriteOptions say where signatures and attestations go and how.
type WriteOptions struct {
	// Keychain finds the registry's credentials (default: the docker
	// config, where a Task step's credentials are, as for cosign).
	Keychain authn.Keychain
	// Transport carries the requests under authentication (default:
	// go-containerregistry's), e.g. for a registry's private CA.
	Transport http.RoundTripper
	// Insecure allows a plain-HTTP registry.
	Insecure bool
	// TransparencyLog is the URL of a Rekor transparency log to record
	// each signature in, with the entry attached as cosign's bundle. Empty
	// (the default) writes nothing outside the registry: a private key
	// needs no public log, and an air-gapped cluster has none.
	TransparencyLog string
	// Now stamps statements (default time.Now).
	Now func() time.Time
}

func (o WriteOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// registryOptions are go-containerregistry's options for a call: the
// docker config keychain (what a Task step's credentials come through, as
// cosign does by default), then the caller's.
func registryOptions(ctx context.Context, extra []remote.Option) []remote.Option {
	return append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, extra...)
}

func (o WriteOptions) keychain() authn.Keychain {
	if o.Keychain != nil {
		return o.Keychain
	}
	return authn.DefaultKeychain
}

// registry is o as go-containerregistry's options for a call: what
// registryOptions gives every call, with o's keychain and transport.
func (o WriteOptions) registry(ctx context.Context) []remote.Option {
	opts := []remote.Option{remote.WithAuthFromKeychain(o.keychain())}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return registryOptions(ctx, opts)
}

func (o WriteOptions) remote(ctx context.Context) []ociremote.Option {
	return []ociremote.Option{ociremote.WithMoreRemoteOptions(o.registry(ctx)...)}
}

// digestRef parses an image reference that must name a digest
// (repo@sha256:..., or repo:tag@sha256:...): what is signed is a digest,
// never a tag that can move.
func digestRef(ref string, insecure bool) (name.Digest, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	d, err := name.NewDigest(ref, opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image %q: want repo@sha256:<digest>: %v", cut(ref, 200), err)
	}
	return d, nil
}

// maxWriteAttempts bounds the read-modify-write loop: each attempt that
// loses a race to another writer reads the tag again.
const maxWriteAttempts = 6

// locks serialises writes to one digest's .sig or .att tag within the
// process: the tag is one manifest listing every signature, so two
// writers that read it at once would each drop the other's.
var locks keyedLocks

type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

func (k *keyedLocks) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{}
		k.m[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// entryTag is one of the two tags of a digest whose manifest lists
// entries: .sig (signatures) and .att (attestations).
type entryTag struct {
	kind    string // "sig" or "att"
	tag     func(name.Reference, ...ociremote.Option) (name.Tag, error)
	entries func(oci.SignedEntity) (oci.Signatures, error)
}

var (
	sigTag = entryTag{"sig", ociremote.SignatureTag, func(se oci.SignedEntity) (oci.Signatures, error) { return se.Signatures() }}
	attTag = entryTag{"att", ociremote.AttestationTag, func(se oci.SignedEntity) (oci.Signatures, error) { return se.Attestations() }}
)

// errTagMoved: the tag changed between our read and our write.
var errTagMoved = errors.New("the tag changed while we wrote")

// readModifyWrite runs one write of d's tag t under the digest's lock:
// attach builds the new entity from the current one, and the new list is
// published only if the tag still names what was read (see publish).
// Another process (Chains, a Task pod, a second replica) can race us
// through the registry, which has no compare-and-swap, in two ways:
//   - it tags after our read and before our write: publish sees the tag
//     moved and we read again, so its entry is kept (only a tag landing in
//     the one round trip between publish's check and its write is lost);
//   - it read before our write and tags after it, dropping our entry: so
//     after the write the tag is read back, and if ours is gone we write
//     again on top of theirs. The read-back waits twice the time our own
//     read-modify-write took, so such a writer has landed by then.
//
// Each round keeps everyone's entries, so the loop converges. Within one
// process (the controller) the lock makes writes strictly one at a time.
func readModifyWrite(ctx context.Context, d name.Digest, t entryTag, o WriteOptions,
	attach func(oci.SignedEntity) (oci.SignedEntity, error),
	present func(oci.SignedEntity) (bool, error)) (err error) {
	unlock := locks.lock(t.kind + "\x00" + d.String())
	defer unlock()
	// The registry is a peer: every answer the write reads (the list, the
	// entries it replaces, errors) is bounded, as VerifyImage's are.
	bounded := registry.Transport(o.Transport, listBounds)
	o.Transport = bounded
	defer func() {
		if r := bounded.Refused(); err != nil && r != nil && !errors.Is(err, registry.ErrTooLarge) {
			err = fmt.Errorf("%w (%v)", r, err)
		}
	}()
	rem, err := reusedPuller(o.registry(ctx))
	if err != nil {
		return fmt.Errorf("registry of %s: %w", d, err)
	}
	ropts := []ociremote.Option{ociremote.WithMoreRemoteOptions(rem...)}
	tag, err := t.tag(d, ropts...)
	if err != nil {
		return fmt.Errorf("the .%s tag of %s: %w", t.kind, d, err)
	}
	up, err := newUploader(ctx, tag.Context(), o)
	if err != nil {
		return fmt.Errorf("registry of %s: %w", d, err)
	}
	var lastErr error
	for attempt := range maxWriteAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 20 * time.Millisecond):
			}
		}
		start := time.Now()
		before, err := tagDigest(tag, rem)
		if err != nil {
			return fmt.Errorf("read the .%s tag of %s: %w", t.kind, d, err)
		}
		se, err := ociremote.SignedEntity(d, ropts...)
		if err != nil {
			return fmt.Errorf("read %s: %w", d, err)
		}
		se = readOnce(se)
		read, err := t.entries(se)
		if err != nil {
			return fmt.Errorf("read the .%s tag of %s: %w", t.kind, d, err)
		}
		have, err := layerDigests(read)
		if err != nil {
			return fmt.Errorf("read the .%s tag of %s: %w", t.kind, d, err)
		}
		next, err := attach(se)
		if err != nil {
			return err
		}
		entries, err := t.entries(next)
		if err != nil {
			return err
		}
		pushed, err := publish(ctx, up, tag, before, entries, have, rem)
		if err != nil {
			lastErr = fmt.Errorf("write the .%s tag of %s: %w", t.kind, d, err)
			continue
		}
		// A writer that read the tag before our write lands its own
		// within about one such cycle; wait that out before looking.
		settle := min(max(2*time.Since(start), 10*time.Millisecond), 2*time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settle):
		}
		// The tag still naming our list means ours is in it: one HEAD
		// instead of reading the whole list back.
		if now, err := tagDigest(tag, rem); err == nil && now == pushed {
			return nil
		}
		se, err = ociremote.SignedEntity(d, ropts...)
		if err != nil {
			return fmt.Errorf("read back %s: %w", d, err)
		}
		ok, err := present(se)
		if err != nil {
			return fmt.Errorf("read back the .%s tag of %s: %w", t.kind, d, err)
		}
		if ok {
			return nil
		}
		lastErr = fmt.Errorf("the .%s tag of %s kept changing under us (%d writes)", t.kind, d, attempt+1)
	}
	return lastErr
}

// reusedPuller adds to opts one Puller that every read of a write
// shares: each go-containerregistry call otherwise sets up its own
// transport, pinging /v2/ (and fetching a token where the registry wants
// one) first.
func reusedPuller(opts []remote.Option) ([]remote.Option, error) {
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	return append(opts, remote.Reuse(puller)), nil
}

// publish pushes the entry list img by digest (its blobs and manifest, no
// tag yet), then points tag at it only if tag still names before (its
// digest when we read it; "" if it did not exist). The check and the tag
// write are two small requests, so the window a concurrent writer can
// fall into is one round trip instead of our whole read-modify-write. A
// list left untagged after errTagMoved is an orphan manifest the
// registry's garbage collection removes; nothing points at it.
func publish(ctx context.Context, up *uploader, tag name.Tag, before string, img v1.Image, have map[v1.Hash]bool, opts []remote.Option) (string, error) {
	dg, err := up.pushList(ctx, img, have)
	if err != nil {
		return "", err
	}
	now, err := tagDigest(tag, opts)
	if err != nil {
		return "", err
	}
	if now != before {
		return "", errTagMoved
	}
	return dg.String(), up.manifest(ctx, tag.TagStr(), img)
}

// tagDigest is the digest tag names, or "" when there is no such tag.
func tagDigest(tag name.Tag, opts []remote.Option) (string, error) {
	desc, err := remote.Head(tag, opts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// tlogBundle records a signature in the transparency log, when one is
// configured, and returns the option attaching the entry as cosign's
// bundle. upload picks the entry type (hashedrekord for a signature, DSSE
// for an attestation).
func (s *Signer) tlogBundle(ctx context.Context, o WriteOptions, upload func(*rekorClient) (*rekorEntry, error)) ([]static.Option, error) {
	if o.TransparencyLog == "" {
		return nil, nil
	}
	rc, err := rekorclient.GetRekorClient(o.TransparencyLog, rekorclient.WithUserAgent("modelguard"))
	if err != nil {
		return nil, fmt.Errorf("transparency log %s: %w", o.TransparencyLog, err)
	}
	entry, err := upload(rc)
	if err != nil {
		return nil, fmt.Errorf("transparency log %s: %w", o.TransparencyLog, err)
	}
	return []static.Option{static.WithBundle(cbundle.EntryToBundle(entry))}, nil
}

// uploadSignature records a simple-signing signature as a hashedrekord.
func (s *Signer) uploadSignature(ctx context.Context, payload, sig []byte) func(*rekorClient) (*rekorEntry, error) {
	return func(rc *rekorClient) (*rekorEntry, error) {
		h := sha256.New()
		h.Write(payload)
		return cosign.TLogUpload(ctx, rc, sig, h, s.pub)
	}
}

// uploadEnvelope records a DSSE envelope.
func (s *Signer) uploadEnvelope(ctx context.Context, env []byte) func(*rekorClient) (*rekorEntry, error) {
	return func(rc *rekorClient) (*rekorEntry, error) {
		return cosign.TLogUploadDSSEEnvelope(ctx, rc, env, s.pub)
	}
}
