package tools

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"
)

// OperatorVersion is tektoncd/operator, whose Go types OpenShift Pipelines'
// TektonConfig is: the newest whose types build from the module proxy here
// (v0.77.0's import github.com/openshift-pipelines/tektoncd-pruner, which
// the proxy refuses; v0.76.0 is not served).
const OperatorVersion = "v0.75.0"

// tektonConfigCheck is the program EnsureTektonConfigCheck builds: it
// decodes a TektonConfig file strictly into the operator's own type (an
// unknown field fails), defaults and validates it as the operator's
// webhook does, validates spec.chain as the operator's TektonChain
// webhook does, and prints spec.chain's properties as JSON: what the
// operator writes into Chains' chains-config.
const tektonConfigCheck = `package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/tektoncd/operator/pkg/apis/operator/v1alpha1"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tektonconfig-check FILE")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		fail(err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var tc v1alpha1.TektonConfig
	if err := dec.Decode(&tc); err != nil {
		fail(fmt.Errorf("not a TektonConfig of tektoncd/operator: %w", err))
	}
	if tc.APIVersion != "operator.tekton.dev/v1alpha1" || tc.Kind != "TektonConfig" {
		fail(fmt.Errorf("apiVersion/kind %s %s, want operator.tekton.dev/v1alpha1 TektonConfig", tc.APIVersion, tc.Kind))
	}
	ctx := context.Background()
	tc.SetDefaults(ctx)
	if fe := tc.Validate(ctx); fe != nil {
		fail(fmt.Errorf("TektonConfig: %v", fe))
	}
	spec := v1alpha1.TektonChainSpec{Chain: tc.Spec.Chain}
	if fe := spec.ValidateChainConfig("spec.chain"); fe != nil {
		fail(fmt.Errorf("spec.chain: %v", fe))
	}
	out, err := json.Marshal(tc.Spec.Chain.ChainProperties)
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
`

// EnsureTektonConfigCheck builds (once per machine) the TektonConfig
// checker against tektoncd/operator at OperatorVersion, in a wrapper
// module that repeats the operator's replace directives (it pins its own
// Kubernetes libraries, older than the project's), and returns its path.
// The program runs with PLATFORM=openshift, as the operator on OpenShift.
func EnsureTektonConfigCheck(ctx context.Context, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	root, err := CacheRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin", "tektonconfig-check-"+OperatorVersion)
	if exists(bin) {
		return bin, nil
	}
	unlock, err := lockCache(ctx, root, log)
	if err != nil {
		return "", err
	}
	defer unlock()
	if exists(bin) {
		return bin, nil
	}
	start := time.Now()
	fmt.Fprintf(log, "tools: building the TektonConfig checker against tektoncd/operator %s (first run on this machine, ~2 min)\n", OperatorVersion)
	b := &builder{root: root, log: log}
	dir, err := b.wrapperDir("tektonconfig-check-" + OperatorVersion)
	if err != nil {
		return "", err
	}
	if err := writeFile(dir, "main.go", tektonConfigCheck); err != nil {
		return "", err
	}
	if _, err := b.replacingWrapper(ctx, "tektonconfig-check", "github.com/tektoncd/operator", OperatorVersion, nil); err != nil {
		return "", err
	}
	if err := b.buildInto(ctx, dir, []string{"-ldflags", "-s -w"}, map[string]string{".": bin}); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "tools: built the TektonConfig checker in %s\n", time.Since(start).Round(time.Second))
	return bin, nil
}
