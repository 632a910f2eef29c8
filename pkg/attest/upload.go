package attest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sigstore/cosign/v2/pkg/oci"
)

// uploader pushes one entry list (the image a .sig or .att tag names) to
// one repository with the fewest requests the distribution spec allows:
// each new blob in one POST and one PUT (a monolithic upload) instead of
// go-containerregistry's HEAD, POST, PATCH and PUT, and no blob the
// repository is known to hold. Every request of a write is on its
// critical path, and the settle wait after it is twice the write's time.
type uploader struct {
	client *http.Client
	repo   string // scheme://registry/v2/<repository>
}

func newUploader(ctx context.Context, repo name.Repository, o WriteOptions) (*uploader, error) {
	auth, err := o.keychain().Resolve(repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo, err)
	}
	base := o.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, base, []string{repo.Scope(transport.PushScope)})
	if err != nil {
		return nil, err
	}
	return &uploader{
		client: &http.Client{Transport: rt},
		repo:   fmt.Sprintf("%s://%s/v2/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr()),
	}, nil
}

// pushList pushes img's config, the layers not in have, and its manifest
// by digest, and returns that digest. have holds the layers of the list
// that was read from this repository: a manifest there names them, so the
// repository has them.
func (u *uploader) pushList(ctx context.Context, img v1.Image, have map[v1.Hash]bool) (v1.Hash, error) {
	cfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return v1.Hash{}, err
	}
	if err := u.blob(ctx, cfgName, int64(len(cfg)), io.NopCloser(bytes.NewReader(cfg))); err != nil {
		return v1.Hash{}, fmt.Errorf("upload config %s: %w", cfgName, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return v1.Hash{}, err
		}
		if have[d] || d == cfgName {
			continue
		}
		size, err := l.Size()
		if err != nil {
			return v1.Hash{}, err
		}
		body, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, err
		}
		if err := u.blob(ctx, d, size, body); err != nil {
			return v1.Hash{}, fmt.Errorf("upload layer %s: %w", d, err)
		}
	}
	dg, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	return dg, u.manifest(ctx, dg.String(), img)
}

// blob uploads one blob: POST opens the upload, PUT sends it whole and
// commits it under its digest, which the registry checks.
func (u *uploader) blob(ctx context.Context, d v1.Hash, size int64, body io.ReadCloser) error {
	defer body.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.repo+"/blobs/uploads/", nil)
	if err != nil {
		return err
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return err
	}
	err = transport.CheckError(resp, http.StatusAccepted)
	loc, lerr := resp.Location()
	drain(resp)
	if err != nil {
		return err
	}
	if lerr != nil {
		return fmt.Errorf("the registry opened an upload without a usable Location: %w", lerr)
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	put, err := http.NewRequestWithContext(ctx, http.MethodPut, loc.String(), body)
	if err != nil {
		return err
	}
	put.ContentLength = size
	put.Header.Set("Content-Type", "application/octet-stream")
	resp, err = u.client.Do(put)
	if err != nil {
		return err
	}
	defer drain(resp)
	return transport.CheckError(resp, http.StatusCreated)
}

// manifest puts img's manifest under ref, a digest or a tag.
func (u *uploader) manifest(ctx context.Context, ref string, img v1.Image) error {
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.repo+"/manifests/"+ref, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", string(mt))
	resp, err := u.client.Do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	return transport.CheckError(resp, http.StatusCreated)
}

// drain reads what is left of a (small) response body, so the connection
// is reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// layerDigests returns the digests of the layers of an entry list.
func layerDigests(list oci.Signatures) (map[v1.Hash]bool, error) {
	layers, err := list.Layers()
	if err != nil {
		return nil, err
	}
	out := make(map[v1.Hash]bool, len(layers))
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		out[d] = true
	}
	return out, nil
}

// readOnce wraps an entity so that its signature and attestation lists
// are read from the registry at most once: cosign reads them lazily, on
// every call, and a write looks at the list it read twice (what to attach
// to, and which blobs the repository already has).
func readOnce(se oci.SignedEntity) oci.SignedEntity {
	switch e := se.(type) {
	case oci.SignedImage:
		return onceImage{e, sync.OnceValues(e.Signatures), sync.OnceValues(e.Attestations)}
	case oci.SignedImageIndex:
		return onceIndex{e, sync.OnceValues(e.Signatures), sync.OnceValues(e.Attestations)}
	}
	return se
}

type onceImage struct {
	oci.SignedImage
	sigs, atts func() (oci.Signatures, error)
}

func (o onceImage) Signatures() (oci.Signatures, error)   { return o.sigs() }
func (o onceImage) Attestations() (oci.Signatures, error) { return o.atts() }

type onceIndex struct {
	oci.SignedImageIndex
	sigs, atts func() (oci.Signatures, error)
}

func (o onceIndex) Signatures() (oci.Signatures, error)   { return o.sigs() }
func (o onceIndex) Attestations() (oci.Signatures, error) { return o.atts() }
