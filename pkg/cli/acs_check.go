package cli

import (
	"fmt"
	"strings"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/central"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/spf13/cobra"
)

type acsCheckOptions struct {
	acsOptions
	image    string
	allowTag bool
}

func newACSCheckCommand(g *globalOptions) *cobra.Command {
	o := &acsCheckOptions{acsOptions: acsOptions{globalOptions: g}}
	cmd := &cobra.Command{
		Use:   "check -i IMAGE",
		Short: "Evaluate Central's build-time policies against an image",
		Long: `check asks Central which build-time policies an image violates (roxctl image
check) and fails (exit 2) when one of them carries FAIL_BUILD_ENFORCEMENT.
It scans the image first: Central's build-time check passes an image it has
no scan data for, so a check alone could wave an unscanned image through.`,
		Annotations: map[string]string{formalOutput: "yes"},
		Args:        cobra.NoArgs,
		RunE:        o.runE(central.DetectResults(gate.DetectReport{}), o.check),
	}
	f := cmd.Flags()
	f.StringVarP(&o.image, "image", "i", "", "image pinned by digest, repo@sha256:... (required)")
	f.BoolVar(&o.allowTag, "allow-tag", false, "accept an image without a digest (not recommended)")
	f.StringSliceVar(&o.categories, "categories", nil, "only policies in these categories (repeat or comma-separate; default all)")
	o.flags(f)
	return cmd
}

func (o *acsCheckOptions) check(cmd *cobra.Command, _ []string) error {
	if o.image == "" {
		return fmt.Errorf("--image is required")
	}
	if !strings.Contains(o.image, "@sha256:") && !o.allowTag {
		return fmt.Errorf("--image %q has no digest; check repo@sha256:... or pass --allow-tag", o.image)
	}
	if err := o.resolveReport(cmd); err != nil {
		return err
	}
	client, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	out := detectOutput{tool: "modelguard acs check", subject: o.image}
	img, err := client.ScanImage(cmd.Context(), acs.ScanRequest{Image: o.image, Cluster: o.cluster})
	switch {
	case err != nil && strings.Contains(err.Error(), "MISSING_SCAN_DATA"), err == nil && img.Scan == nil:
		out.DetectReport = gate.DetectReport{Reason: gate.ReasonNoScanData,
			Message: "Central has no scan data for " + o.image + ", and its build-time check would pass it unchecked"}
		return o.finish(cmd.OutOrStdout(), out)
	case err != nil:
		return fmt.Errorf("scan %s: %w", o.image, err)
	}
	resp, err := client.DetectBuild(cmd.Context(), acs.BuildRequest{Image: o.image, PolicyCategories: splitList(o.categories), Cluster: o.cluster})
	if err != nil {
		return fmt.Errorf("check %s: %w", o.image, err)
	}
	out.DetectReport = gate.EvaluateBuild(resp)
	return o.finish(cmd.OutOrStdout(), out)
}

type acsDeploymentCheckOptions struct {
	acsOptions
	files     []string
	namespace string
}

func newACSDeploymentCheckCommand(g *globalOptions) *cobra.Command {
	o := &acsDeploymentCheckOptions{acsOptions: acsOptions{globalOptions: g}}
	cmd := &cobra.Command{
		Use:   "deployment-check -f FILE...",
		Short: "Evaluate Central's deploy-time policies against serving manifests before they are applied",
		Long: `deployment-check sends the manifests (InferenceService, Deployment, Service,
...) to Central (roxctl deployment check) and fails (exit 2) when a violated
policy would scale the workload to zero or refuse its creation
(SCALE_TO_ZERO_ENFORCEMENT, FAIL_DEPLOYMENT_CREATE_ENFORCEMENT).

-f takes files, directories (their *.yaml, *.yml and *.json files) or - for
standard input, and may be repeated.`,
		Annotations: map[string]string{formalOutput: "yes"},
		Args:        cobra.NoArgs,
		RunE:        o.runE(central.DetectResults(gate.DetectReport{}), o.check),
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "file", "f", nil, "manifest file, directory, or - for stdin (required, repeatable)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace the objects will live in (Central's default when empty)")
	f.StringSliceVar(&o.categories, "categories", nil, "only policies in these categories (repeat or comma-separate; default all)")
	o.flags(f)
	return cmd
}

func (o *acsDeploymentCheckOptions) check(cmd *cobra.Command, _ []string) error {
	m, err := readManifests(o.files, cmd.InOrStdin())
	if err != nil {
		return err
	}
	if err := o.resolveReport(cmd); err != nil {
		return err
	}
	client, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	resp, err := client.DetectDeployYAML(cmd.Context(), acs.DeployRequest{YAML: m.yaml, Namespace: o.namespace,
		PolicyCategories: splitList(o.categories), Cluster: o.cluster})
	if err != nil {
		return fmt.Errorf("deployment check: %w", err)
	}
	return o.finish(cmd.OutOrStdout(), detectOutput{DetectReport: gate.EvaluateDeploy(resp),
		tool: "modelguard acs deployment-check", subject: strings.Join(m.files, ","), locate: m.fileOf})
}
