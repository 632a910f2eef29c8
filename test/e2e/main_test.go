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

	"github.com/modelguard/modelguard/test/localcluster"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
)

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
	// controllerBin is cmd/e2e-controller, built for this run.
	controllerBin string
}

func TestMain(m *testing.M) {
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

// installController installs modelguard with cmd/e2e-controller as the
// controller (see startController).
func (e *environment) installController(ctx context.Context) error {
	bin, err := e.cluster.BuildController(ctx, "./test/e2e/cmd/e2e-controller")
	if err != nil {
		return err
	}
	e.controllerBin = bin
	ctl, err := e.cluster.InstallModelguard(ctx, localcluster.ModelguardOptions{Controller: []string{bin}})
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
