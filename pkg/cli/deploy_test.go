package cli

import (
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/deploy"
)

// The rendered manifests fit in a Tekton result beside model-deploy's
// other results (a TaskRun's results share a 4 KiB termination message).
func TestRenderedManifestsFitAResult(t *testing.T) {
	for _, target := range []string{deploy.TargetDeployment, deploy.TargetKServe} {
		objs, err := deploy.Render(deploy.Spec{Namespace: "fraud-detection-prod", Name: "granite-guardian", Target: target, Runtime: "modelguard-serve",
			ModelImage:  "registry.example.com/models/granite-guardian@sha256:" + strings.Repeat("1", 64),
			ServerImage: "registry.example.com/modelguard/modelguard@sha256:" + strings.Repeat("2", 64)})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, o := range objs {
			y, err := compactManifest(o)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(y), "creationTimestamp") || strings.Contains(string(y), "status:") {
				t.Errorf("%s: empty fields left in:\n%s", target, y)
			}
			n += len(y) + 4
		}
		t.Logf("%s: %d bytes", target, n)
		if n > manifestsResultLimit {
			t.Errorf("%s: %d bytes, more than %d", target, n, manifestsResultLimit)
		}
	}
}
