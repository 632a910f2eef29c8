package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/spf13/cobra"
)

func newPolicyCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Admission policies from one trust config",
	}
	var file, format string
	render := &cobra.Command{
		Use:   "render",
		Short: "Render a TrustPolicy as policy-controller, Kyverno and OpenShift admission policies",
		Long: `render reads one TrustPolicy (repositories, namespaces, the signer's and
the attestor's public keys, whether build provenance and a recent passed
scan are required) and writes the same rules for:

  policy-controller  sigstore ClusterImagePolicies (policy.sigstore.dev/v1beta1)
  kyverno            a ClusterPolicy with verifyImages (kyverno.io/v1)
  openshift          ImagePolicies per namespace, or a ClusterImagePolicy
                     (config.openshift.io/v1): signatures only, at image pull

as YAML on stdout, ready for kubectl apply -f -. No policy uses a public
transparency log: the keys are yours.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return fmt.Errorf("-f (the TrustPolicy file) is required")
			}
			data, err := readBounded(file, 1<<20)
			if err != nil {
				return fmt.Errorf("-f: %w", err)
			}
			t, err := attest.ParseTrustPolicy(data, filepath.Dir(file), os.ReadFile)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			out, err := t.Render(format)
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	render.Flags().StringVarP(&file, "file", "f", "", "the TrustPolicy (YAML)")
	render.Flags().StringVar(&format, "format", "all", "policy-controller, kyverno, openshift, or all")
	cmd.AddCommand(render)
	return cmd
}
