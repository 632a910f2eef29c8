package pods

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/modelguard/modelguard/test/catalog"
	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/tools"
)

// release is one `make release` into the node's registry: its output dir
// and digests.json.
type release struct {
	dir     string
	Version string            `json:"version"`
	Images  map[string]string `json:"images"`
	Bundles map[string]string `json:"bundles"`
	Signed  bool              `json:"signed"`
}

func (r *release) file(rel string) string { return filepath.Join(r.dir, rel) }

// cli is the released CLI image by digest, as the released Tasks name it.
func (r *release) cli() string { return digestOnly(r.Images["modelguard"]) }

// digestOnly drops the tag of repo:tag@digest.
func digestOnly(ref string) string {
	d, err := name.NewDigest(ref)
	if err != nil {
		return ref
	}
	return d.Context().Name() + "@" + d.DigestStr()
}

// releaseBase pushes the release base (tools.StaticBase: linux/amd64 and
// linux/arm64, non-root) into the node's registry, by digest.
func releaseBase(ctx context.Context, c *localcluster.Cluster) (string, error) {
	idx, err := tools.StaticBase()
	if err != nil {
		return "", err
	}
	return tools.PushIndex(ctx, c.Registry+"/base/static:nonroot", idx)
}

// makeRelease runs `make release` as a maintainer does, into the node's
// registry, and reads what it pushed.
func makeRelease(ctx context.Context, c *localcluster.Cluster, version, name string) (*release, error) {
	base, err := releaseBase(ctx, c)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(c.Dir, "releases", name)
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-C", repoRoot(), "release",
		"KO_DOCKER_REPO="+c.Registry+"/modelguard", "VERSION="+version, "KO_DEFAULTBASEIMAGE="+base, "RELEASE_OUT="+out)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("make release VERSION=%s: %w\n%s", version, err, log.String())
	}
	fmt.Fprintf(os.Stderr, "pods: make release VERSION=%s in %s\n", version, time.Since(start).Round(time.Millisecond))
	data, err := os.ReadFile(filepath.Join(out, "digests.json"))
	if err != nil {
		return nil, err
	}
	r := &release{dir: out}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("digests.json: %w", err)
	}
	if r.Version != version || r.Images["controller"] == "" || r.Images["modelguard"] == "" || len(r.Bundles) == 0 {
		return nil, fmt.Errorf("digests.json of %s: %s", version, data)
	}
	return r, nil
}

func (e *environment) makeFirstRelease(ctx context.Context) error {
	r, err := makeRelease(ctx, e.cluster, firstVersion, "first")
	if err != nil {
		return err
	}
	e.release, e.modelguard = r, r.cli()
	return nil
}

// TestRelease: `make release` run again with the same version pushes the
// same digests (images, bundles) and writes the same release.yaml; and
// the controller installed from it runs in cluster as a restricted cluster
// runs it.
func TestRelease(t *testing.T) {
	again, err := makeRelease(context.Background(), env.cluster, firstVersion, "again")
	if err != nil {
		t.Fatal(err)
	}
	first := env.release
	// digests.json lists every image and bundle pushed, by digest.
	for _, f := range []string{"digests.json", "release.yaml", "release.notags.yaml", "release.openshift.yaml"} {
		a, _ := os.ReadFile(first.file(f))
		b, _ := os.ReadFile(again.file(f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs of make release:\n%s\n%s", f, a, b)
		}
	}
	ctl := first.Images["controller"]
	if y, _ := os.ReadFile(first.file("release.yaml")); !bytes.Contains(y, []byte("image: "+ctl+"\n")) {
		t.Errorf("release.yaml does not name the controller %s", ctl)
	}
	for _, f := range []string{"release.notags.yaml", "release.openshift.yaml"} {
		if y, _ := os.ReadFile(first.file(f)); !bytes.Contains(y, []byte("image: "+digestOnly(ctl)+"\n")) {
			t.Errorf("%s does not name the controller by digest only (%s)", f, digestOnly(ctl))
		}
	}
	for dir := range first.Bundles {
		n := filepath.Base(filepath.Dir(dir))
		if y, _ := os.ReadFile(first.file(filepath.Join(dir, n+".yaml"))); !bytes.Contains(y, []byte("default: "+first.cli()+"\n")) {
			t.Errorf("the released %s does not default to the released CLI %s", dir, first.cli())
		}
	}
	// What a release ships lints as a release: every image default a
	// digest, every Task valid for Tekton.
	for _, err := range catalog.Lint(first.dir, catalog.Released) {
		t.Error(err)
	}
	t.Run("in-cluster", checkInCluster)
}
