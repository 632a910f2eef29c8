package localcluster

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// ForgetImage makes the node's containerd forget an image, so the next pod
// that uses it pulls and unpacks every layer again (a cold content store):
// it waits until no container uses the image (the kubelet removes a deleted
// pod's containers), removes every name containerd keeps for it (tag,
// repo@digest and the image id) and lets the garbage collector delete its
// blobs and snapshots before returning. manifest is the image's manifest
// digest (sha256:...).
func (c *Cluster) ForgetImage(ctx context.Context, manifest string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		names, err := c.imageNames(ctx, manifest)
		if err != nil || len(names) == 0 {
			return err
		}
		out, err := c.ctr(ctx, "containers", "ls")
		if err != nil {
			return err
		}
		if !runsAny(out, names) {
			_, err = c.ctr(ctx, append([]string{"images", "rm", "--sync"}, names...)...)
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("a container on the node still uses %s", manifest)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// imageNames lists the names under which containerd keeps an image.
func (c *Cluster) imageNames(ctx context.Context, manifest string) ([]string, error) {
	out, err := c.ctr(ctx, "images", "ls")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n")[1:] {
		// REF TYPE DIGEST SIZE PLATFORMS LABELS
		if f := strings.Fields(line); len(f) >= 3 && f[2] == manifest {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// runsAny says whether `ctr containers ls` output (CONTAINER IMAGE
// RUNTIME) has a container of one of the images.
func runsAny(containers string, images []string) bool {
	for _, line := range strings.Split(containers, "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 2 && slices.Contains(images, f[1]) {
			return true
		}
	}
	return false
}

// NodeHasBlob says whether the node's containerd holds a blob.
func (c *Cluster) NodeHasBlob(ctx context.Context, digest string) (bool, error) {
	out, err := c.ctr(ctx, "content", "ls", "--quiet")
	if err != nil {
		return false, err
	}
	for _, d := range strings.Fields(out) {
		if d == digest {
			return true, nil
		}
	}
	return false, nil
}

// ctr runs containerd's own client against the node, in the kubelet's
// namespace.
func (c *Cluster) ctr(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"--address", nodePathsIn(c.Dir).containerdSock, "--namespace", "k8s.io"}, args...)
	out, err := exec.CommandContext(ctx, "ctr", full...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
