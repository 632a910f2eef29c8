// Package e2e drives PipelineRuns and CustomRuns through a real
// kube-apiserver (RBAC on), the real Tekton controller and the modelguard
// controller, all started here on loopback by test/localcluster.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/modelguard/modelguard/pkg/kinds/all"
	"github.com/modelguard/modelguard/pkg/reconciler/customrun"
	"github.com/modelguard/modelguard/test/localcluster"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
)

// roleEnv makes the test binary act as the controller process: the same
// customrun.Main as cmd/controller, with the test-only Echo kind added.
const roleEnv = "MODELGUARD_E2E_ROLE"

// env is the cluster every test in this package shares. Tests use their
// own namespaces so they do not see each other's runs.
var env *environment

type environment struct {
	cluster *localcluster.Cluster
	kube    kubernetes.Interface
	tekton  tekton.Interface
	// controller is the running modelguard controller; tests that kill it
	// must start a new one and put it back here.
	controller *controllerProcess
}

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "controller" {
		customrun.Main(func(ctx context.Context) []kinds.Kind { return append(all.Kinds(ctx), echoKind{}) })
		return
	}
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(m.Run())
	}
	os.Exit(runWithCluster(m))
}

func runWithCluster(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Config{Log: os.Stderr, Users: []localcluster.User{taskServiceAccount}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start local cluster:", err)
		return 1
	}
	defer c.Stop()
	env = &environment{
		cluster: c,
		kube:    kubernetes.NewForConfigOrDie(c.RESTConfig(localcluster.UserAdmin)),
		tekton:  tekton.NewForConfigOrDie(c.RESTConfig(localcluster.UserAdmin)),
	}
	if err := env.installController(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		c.WriteLogTails(os.Stderr, 30)
	}
	return code
}

// installController installs modelguard with this test binary as the
// controller (see startController).
func (e *environment) installController(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find test binary: %w", err)
	}
	ctl, err := e.cluster.InstallModelguard(ctx, localcluster.ModelguardOptions{Controller: []string{exe}, Env: []string{roleEnv + "=controller"}})
	if err != nil {
		return err
	}
	e.controller = &controllerProcess{ctl}
	return nil
}

// repoRoot is two levels up from this package.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
