package pods

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// taskTests has a real-pod test for every Task under tasks/. TestTasks
// fails when a Task has none, so a new Task cannot ship untested.
var taskTests = map[string]func(t *testing.T){
	"acs-image-scan":       testACSImageScan,
	"acs-image-check":      testACSImageCheck,
	"acs-deployment-check": testACSDeploymentCheck,
	"acs-runtime-watch":    testACSRuntimeWatch,
	"namespace-guard":      testNamespaceGuard,
	"model-image-build":    testModelImageBuild,
	"model-deploy":         testModelDeploy,
	"cosign-sign":          testCosignSign,
	"cosign-attest":        testCosignAttest,
	"verify-image":         testVerifyImage,
	"model-fetch":          testModelFetch,
}

func TestTasks(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(repoRoot(), "tasks", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			names = append(names, filepath.Base(d))
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no Tasks under tasks/")
	}
	for _, name := range names {
		test, ok := taskTests[name]
		if !ok {
			t.Errorf("tasks/%s has no real-pod test: add one to taskTests in test/pods", name)
			continue
		}
		t.Run(name, test)
	}
	for name := range taskTests {
		if _, err := os.Stat(filepath.Join(repoRoot(), "tasks", name)); err != nil {
			t.Errorf("taskTests lists %s, which is not under tasks/", name)
		}
	}
}
