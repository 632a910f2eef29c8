package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// User returns the named user (with its token).
func (c *Cluster) User(name string) (User, bool) {
	for _, u := range c.users {
		if u.Name == name {
			return u, true
		}
	}
	return User{}, false
}

// Users returns every user of the cluster, defaults first.
func (c *Cluster) Users() []User {
	return append([]User(nil), c.users...)
}

// RESTConfig returns a client config that authenticates as user. For an
// unknown user it carries a token the apiserver rejects (401), so a typo
// fails loudly instead of silently acting as system:anonymous.
func (c *Cluster) RESTConfig(user string) *rest.Config {
	token := "unknown-localcluster-user"
	if u, ok := c.User(user); ok {
		token = u.Token
	}
	return &rest.Config{
		Host:            c.Server,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: c.CAFile},
		// Tests create many objects quickly; client-go's default (5/10)
		// would make them wait on the client side.
		QPS:   200,
		Burst: 400,
	}
}

// Kubeconfig returns the path of the kubeconfig file of user, or "" for an
// unknown user. Start writes one for every user.
func (c *Cluster) Kubeconfig(user string) string {
	if _, ok := c.User(user); !ok {
		return ""
	}
	return kubeconfigPath(c.Dir, user)
}

// Kubectl runs the built kubectl as user and returns its stdout. The error
// includes stderr.
func (c *Cluster) Kubectl(ctx context.Context, user string, args ...string) ([]byte, error) {
	kc := c.Kubeconfig(user)
	if kc == "" {
		return nil, fmt.Errorf("kubectl: unknown user %q", user)
	}
	if c.Tools == nil {
		return nil, fmt.Errorf("kubectl: cluster has no tools")
	}
	// Own discovery cache: the default ~/.kube/cache would collect one
	// entry per throwaway cluster.
	full := append([]string{"--kubeconfig", kc, "--cache-dir", filepath.Join(c.Dir, "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, c.Tools.Kubectl, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("kubectl %s (as %s): %w: %s",
			strings.Join(args, " "), user, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// ForTest starts a cluster for a test and stops it when the test ends. If
// the test failed, the last lines of every process log are logged first.
// Progress lines go to t.Log unless cfg.Log is set.
func ForTest(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = testWriter{t}
	}
	ctx := context.Background()
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl)
			defer cancel()
		}
	}
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start local cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range c.Processes() {
				t.Logf("--- last lines of %s (%s) ---\n%s", p.Name(), p.LogPath(), logTail(p.LogPath(), 40))
			}
		}
		c.Stop()
	})
	return c
}

// testWriter turns writes into t.Log lines.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
