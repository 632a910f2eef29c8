package pods

import (
	"context"
	"fmt"
	"time"

	"github.com/modelguard/modelguard/test/localcluster"
)

// buildModelguardImage builds cmd/modelguard with ko onto the node's
// busybox base, made non-root, and returns it by digest.
func buildModelguardImage(ctx context.Context, c *localcluster.Cluster) (string, error) {
	start := time.Now()
	ref, err := c.BuildModelguardImage(ctx)
	if err != nil {
		return "", err
	}
	fmt.Printf("pods: modelguard image %s built with ko in %s\n", ref, time.Since(start).Round(time.Millisecond))
	return ref, nil
}
