package cli

import (
	"fmt"
	"strings"

	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/results"
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
		RunE:        o.runE(detectResults, o.check),
	}
	f := cmd.Flags()
	f.StringVarP(&o.image, "image", "i", "", "image pinned by digest, repo@sha256:... (required)")
	f.BoolVar(&o.allowTag, "allow-tag", false, "accept an image without a digest (not recommended)")
	f.StringSliceVar(&o.categories, "categories", nil, "only policies in these categories (repeat or comma-separate; default all)")
	o.flags(f)
	return cmd
}

func (o *acsCheckOptions) check(cmd *cobra.Command, _ []string) error {
	if err := gate.CheckImageRef(o.image, o.allowTag); err != nil {
		return fmt.Errorf("--image %v", err)
	}
	if err := o.resolveReport(cmd); err != nil {
		return err
	}
	in := gate.ImageCheckInput{Image: o.image, AllowTag: o.allowTag, Cluster: o.cluster, Categories: splitList(o.categories)}
	r := gate.CheckImage(cmd.Context(), o.central(cmd.ErrOrStderr()), in)
	return o.finish(cmd.OutOrStdout(), detectOutput{DetectReport: r, tool: "modelguard acs check", subject: o.image})
}

func detectResults(v gate.Verdict) results.Results { return gate.DetectReport{Verdict: v}.Results() }

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
		RunE:        o.runE(detectResults, o.check),
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "file", "f", nil, "manifest file, directory, or - for stdin (required, repeatable)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace the objects will live in (Central's default when empty)")
	f.StringSliceVar(&o.categories, "categories", nil, "only policies in these categories (repeat or comma-separate; default all)")
	o.flags(f)
	return cmd
}

func (o *acsDeploymentCheckOptions) check(cmd *cobra.Command, _ []string) error {
	ms, err := readManifests(o.files, cmd.InOrStdin())
	if err != nil {
		return err
	}
	if err := o.resolveReport(cmd); err != nil {
		return err
	}
	in := gate.DeploymentCheckInput{Manifests: ms, Namespace: o.namespace, Categories: splitList(o.categories), Cluster: o.cluster}
	r := gate.CheckDeployment(cmd.Context(), o.central(cmd.ErrOrStderr()), in)
	var files []string
	for _, m := range ms {
		files = append(files, m.Source)
	}
	return o.finish(cmd.OutOrStdout(), detectOutput{DetectReport: r, tool: "modelguard acs deployment-check", subject: strings.Join(files, ",")})
}
