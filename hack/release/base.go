package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// checkBase fails unless the base (by digest) is an index with an image
// for every platform, each running as a numeric non-root user: config/'s
// Deployment and the Tasks' steps say runAsNonRoot without a UID, which
// the kubelet refuses for a root or non-numeric user, and ko refuses a
// platform the base lacks only after building.
func checkBase(ctx context.Context, base string, platforms []string) error {
	ref, err := name.NewDigest(base, nameOpts(base)...)
	if err != nil {
		return err
	}
	idx, err := remote.Index(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return fmt.Errorf("base image %s: want an image index (one image per platform): %w", base, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("base image %s: %w", base, err)
	}
	for _, want := range platforms {
		p, err := v1.ParsePlatform(want)
		if err != nil {
			return err
		}
		var found *v1.Descriptor
		for i, d := range m.Manifests {
			if d.Platform != nil && d.Platform.Satisfies(*p) {
				found = &m.Manifests[i]
				break
			}
		}
		if found == nil {
			return fmt.Errorf("base image %s has no %s image", base, want)
		}
		img, err := idx.Image(found.Digest)
		if err != nil {
			return fmt.Errorf("base image %s (%s): %w", base, want, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return fmt.Errorf("base image %s (%s): %w", base, want, err)
		}
		if err := checkUser(cf.Config.User); err != nil {
			return fmt.Errorf("base image %s (%s): %w", base, want, err)
		}
	}
	return nil
}

// checkUser accepts "uid" or "uid:gid", numeric and not 0.
func checkUser(user string) error {
	uid := user
	for i := range user {
		if user[i] == ':' {
			uid = user[:i]
			break
		}
	}
	n, err := strconv.Atoi(uid)
	if err != nil || n == 0 {
		return fmt.Errorf("runs as user %q; want a numeric non-root user (e.g. 65532), which runAsNonRoot without a UID needs", user)
	}
	return nil
}
