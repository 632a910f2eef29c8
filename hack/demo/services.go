package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/reconciler/pipelinerun"
	"github.com/modelguard/modelguard/test/acsemulator"
	"github.com/modelguard/modelguard/test/localcluster"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startCentral serves the ACS Central emulator (the project's one test
// double, answering as Central's API does) where the host and the pods
// reach it (the cluster's PodListener), with the fixture data the tests
// use; images it has never seen (the one the pipeline builds) scan as a
// busybox base with nothing vulnerable.
func startCentral(root string, c *localcluster.Cluster) (*acsemulator.Server, error) {
	data, err := acsemulator.Load(filepath.Join(root, "test", "acsemulator", "testdata", "central.yaml"))
	if err != nil {
		return nil, err
	}
	l, err := c.PodListener()
	if err != nil {
		return nil, err
	}
	s, err := acsemulator.NewServerOn(acsemulator.New(data, centralToken), l)
	if err != nil {
		return nil, err
	}
	s.ScanUnknownAs(&acsemulator.Image{User: "65532", Components: []acsemulator.Component{{Name: "busybox", Version: "1.37.0"}}})
	return s, nil
}

// curl asks the served model for its metadata through the API server's
// service proxy, as the printed curl does, and returns that command and
// the answer. The bearer token goes to a file curl reads (-H @file), so it
// is never printed.
func (tr *tour) curl(ctx context.Context) (string, string, error) {
	svc := modelName
	if tr.kserve {
		svc = modelName + "-predictor"
	}
	path := fmt.Sprintf("/api/v1/namespaces/%s/services/%s:80/proxy/v2/models/%s", servingNS, svc, modelName)
	admin, _ := tr.c.User(localcluster.UserAdmin)
	header := filepath.Join(tr.c.Dir, "demo", "curl-auth-header")
	if err := os.WriteFile(header, []byte("Authorization: Bearer "+admin.Token+"\n"), 0o600); err != nil {
		return "", "", err
	}
	cmd := fmt.Sprintf("curl --cacert %s -H @%s %s%s", tr.c.CAFile, header, tr.c.Server, path)
	raw, err := tr.kube.CoreV1().RESTClient().Get().AbsPath(path).DoRaw(ctx)
	if err != nil {
		return cmd, "", fmt.Errorf("ask the served model (%s): %w", path, err)
	}
	return cmd, strings.TrimSpace(string(raw)), nil
}

// signed says whether Chains signed the build TaskRun.
func (tr *tour) signed(ctx context.Context, tk tekton.Interface, pr *pipelinev1.PipelineRun) string {
	for _, ref := range pr.Status.ChildReferences {
		if ref.PipelineTaskName != "build" {
			continue
		}
		run, err := tk.TektonV1().TaskRuns(pr.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if run.Annotations["chains.tekton.dev/signed"] == "true" {
			return "yes: the build TaskRun, its image signature (.sig) and SLSA provenance (.att) are in the registry"
		}
		return "not yet (chains.tekton.dev/signed is " + run.Annotations["chains.tekton.dev/signed"] + ")"
	}
	return "-"
}

// provenance waits (briefly) for the controller to settle the provenance
// of the finished PipelineRun, the one Chains cannot give for a pipeline
// with custom tasks, and says what it did.
func (tr *tour) provenance(ctx context.Context, tk tekton.Interface, pr *pipelinev1.PipelineRun) string {
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := tk.TektonV1().PipelineRuns(pr.Namespace).Get(ctx, pr.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		switch v := got.Annotations[pipelinerun.Annotation]; {
		case v == "written":
			return "written: SLSA v1 for the whole run, every TaskRun and CustomRun, signed with the " + attest.SigningSecret + " key of " + pipelinesNS + ", attached to the image"
		case v != "" || time.Now().After(deadline):
			return "not written (" + pipelinerun.Annotation + " is " + strconv.Quote(v) + ")"
		}
		select {
		case <-ctx.Done():
			return ctx.Err().Error()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
