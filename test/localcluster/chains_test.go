package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/test/tools"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// slsaV1 is the predicate type of SLSA v1.0 provenance, what Chains'
// slsa/v2alpha4 format writes.
const slsaV1 = "https://slsa.dev/provenance/v1"

// TestChains installs Tekton Chains as a user does (release manifests,
// the project's config/chains, a cosign key in signing-secrets), runs a
// TaskRun in a real pod that names an image through Chains' type hints
// (IMAGE_URL, IMAGE_DIGEST), and checks that Chains signed it: the
// TaskRun's chains.tekton.dev/signed annotation, the .sig and .att tags in
// the registry, and both verified with cosign's code (pkg/attest) and the
// public key from the Secret. If Chains cannot start the test fails; it
// never skips (except in -short mode, the unit-test loop).
func TestChains(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane, a node and Chains")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	start := time.Now()
	c := ForTest(t, Config{Node: true})
	t.Logf("cluster with node up in %s", time.Since(start).Round(time.Millisecond))
	installStart := time.Now()
	chains, err := c.InstallChains(ctx)
	if err != nil {
		t.Fatalf("install chains: %v", err)
	}
	t.Logf("chains %s (%s) running in %s", tools.ChainsVersion, chains.Image, time.Since(installStart).Round(time.Millisecond))

	admin := clientFor(t, c, UserAdmin)
	secret, err := admin.CoreV1().Secrets(ChainsNamespace).Get(ctx, "signing-secrets", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pub := secret.Data["cosign.pub"]
	if len(pub) == 0 || !bytes.Equal(pub, chains.PublicKey) {
		t.Fatalf("signing-secrets cosign.pub = %q, want the key InstallChains returned", pub)
	}

	// The image "built" by the TaskRun: random content, so each run signs
	// a digest nobody signed before.
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	repo := c.Registry + "/chains-test/app"
	ref, err := tools.PushImage(ctx, repo+":latest", img)
	if err != nil {
		t.Fatal(err)
	}
	digest := ref[strings.Index(ref, "@")+1:]

	tc, err := tekton.NewForConfig(c.RESTConfig(UserAdmin))
	if err != nil {
		t.Fatal(err)
	}
	tr := &pipelinev1.TaskRun{
		ObjectMeta: metav1.ObjectMeta{Name: "build", Namespace: "default"},
		Spec: pipelinev1.TaskRunSpec{TaskSpec: &pipelinev1.TaskSpec{
			Results: []pipelinev1.TaskResult{
				{Name: "IMAGE_URL", Type: pipelinev1.ResultsTypeString},
				{Name: "IMAGE_DIGEST", Type: pipelinev1.ResultsTypeString},
			},
			Steps: []pipelinev1.Step{{
				Name:  "build",
				Image: c.Images.Busybox,
				Script: fmt.Sprintf("#!/bin/sh\nset -e\nprintf %%s %q > $(results.IMAGE_URL.path)\nprintf %%s %q > $(results.IMAGE_DIGEST.path)\n",
					repo, digest),
			}},
		}},
	}
	trStart := time.Now()
	if _, err := tc.TektonV1().TaskRuns("default").Create(ctx, tr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var succeeded time.Time
	deadline := time.Now().Add(5 * time.Minute)
	for {
		got, err := tc.TektonV1().TaskRuns("default").Get(ctx, tr.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cond := got.Status.GetCondition(apis.ConditionSucceeded); succeeded.IsZero() && cond != nil && !cond.IsUnknown() {
			if !cond.IsTrue() {
				t.Fatalf("taskrun failed: %s: %s", cond.Reason, cond.Message)
			}
			succeeded = time.Now()
			t.Logf("taskrun create → Succeeded: %s", succeeded.Sub(trStart).Round(time.Millisecond))
		}
		signed := got.Annotations["chains.tekton.dev/signed"]
		if signed == "true" {
			t.Logf("taskrun Succeeded → chains.tekton.dev/signed=true: %s", time.Since(succeeded).Round(time.Millisecond))
			break
		}
		if signed == "failed" || time.Now().After(deadline) {
			t.Fatalf("taskrun not signed (annotations %v, conditions %+v)\n%s", got.Annotations, got.Status.Conditions, c.describeChains(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The signature and the attestation sit next to the image, under the
	// tags cosign's tag scheme gives them.
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(digest, ":", "-", 1)
	for _, want := range []string{base + ".sig", base + ".att"} {
		if !slices.Contains(tags, want) {
			t.Errorf("registry tags of %s = %v, want %s", repo, tags, want)
		}
	}

	opts := attest.VerifyOptions{PublicKey: pub, Insecure: true}
	n, err := attest.Signatures(ctx, ref, opts)
	if err != nil || n < 1 {
		t.Errorf("verify signatures of %s: %d, %v", ref, n, err)
	}
	atts, err := attest.Attestations(ctx, ref, opts)
	if err != nil {
		t.Fatalf("verify attestations of %s: %v", ref, err)
	}
	found := false
	for _, a := range atts {
		t.Logf("attestation %s, builder %q, subjects %v", a.PredicateType, a.BuilderID, a.Subjects)
		if a.PredicateType == slsaV1 && slices.Contains(a.Subjects, digest) {
			found = true
		}
	}
	if !found {
		t.Errorf("no %s attestation with subject %s among %d verified", slsaV1, digest, len(atts))
	}
}

// TestChainsManifests checks, without a cluster, that Chains' release and
// the project's chains-config still have the shape InstallChains relies on,
// and what it changes in them.
func TestChainsManifests(t *testing.T) {
	dir, err := tools.ModuleDir(t.Context(), "github.com/tektoncd/chains", tools.ChainsVersion)
	if err != nil {
		t.Fatal(err)
	}
	objs, dep, err := readRelease(filepath.Join(dir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.(map[string]any)["kind"].(string)] = true
	}
	for _, k := range []string{"Namespace", "Secret", "ConfigMap", "ServiceAccount", "ClusterRole"} {
		if !kinds[k] {
			t.Errorf("chains release has no %s", k)
		}
	}
	ctr := dep.Spec.Template.Spec.Containers[0]
	if ctr.Image != "ko://"+tools.ChainsControllerCmd {
		t.Errorf("release image = %q, want ko://%s", ctr.Image, tools.ChainsControllerCmd)
	}
	if spec := dep.Spec.Template.Spec; spec.HostNetwork {
		t.Error("chains release runs on the host network; the pod network is what InstallChains provides")
	}

	root := tools.RepoRoot()
	if root == "" {
		t.Fatal("no checkout around the working dir")
	}
	cm, err := chainsConfig(filepath.Join(root, "config", "chains", "chains-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["storage.oci.repository.insecure"] != "true" || cm.Data["artifacts.taskrun.format"] != "slsa/v2alpha4" ||
		cm.Data["transparency.enabled"] != "false" {
		t.Errorf("chains-config for the local cluster: %v", cm.Data)
	}
}
