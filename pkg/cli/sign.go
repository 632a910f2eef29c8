package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// writeFlags are what sign and attest share: the image, the key, where
// the results go, and the transparency-log switch.
type writeFlags struct {
	*globalOptions
	image, kubeconfig, passwordFile, resultsDir, tlog string
	key                                               keyFlags
}

func (w *writeFlags) register(f *pflag.FlagSet) {
	f.StringVarP(&w.image, "image", "i", "", "the image, pinned by digest: repo@sha256:... (required)")
	w.key.register(f, "key", "private key (cosign.key)")
	f.StringVar(&w.passwordFile, "password-file", "", "file holding the key's password (default: $COSIGN_PASSWORD; a --key-dir holds cosign.password)")
	f.StringVar(&w.tlog, "transparency-log", "", "also record the signature in this Rekor transparency log (e.g. https://rekor.sigstore.dev); default: none, nothing leaves the registry")
	f.StringVar(&w.kubeconfig, "kubeconfig", "", "kubeconfig, for a k8s:// key")
	f.StringVar(&w.resultsDir, "results-dir", "", "also write each result to a file here (a Tekton step passes /tekton/results)")
}

func (w *writeFlags) options() attest.WriteOptions {
	return attest.WriteOptions{TransparencyLog: w.tlog}
}

// signResults and attestResults are the Tasks' results.
var (
	signResults   = []string{"IMAGE", "summary"}
	attestResults = []string{"IMAGE", "PREDICATE_TYPE", "summary"}
)

func newSignCommand(g *globalOptions) *cobra.Command {
	w := &writeFlags{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign an image with a cosign key (the .sig tag Chains, policy-controller, Kyverno and OpenShift read)",
		Long: `sign attaches a cosign simple-signing signature of the image digest to the
image's .sig tag, as cosign sign --key does, without cosign's prompts and
without a transparency log unless --transparency-log names one. Signing
an image the key already signed adds nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := w.sign(cmd); err != nil {
				return fillResults(w.resultsDir, signResults, err)
			}
			return nil
		},
	}
	w.register(cmd.Flags())
	return cmd
}

func (w *writeFlags) sign(cmd *cobra.Command) error {
	s, err := w.key.signer(cmd.Context(), w.kubeconfig, w.passwordFile)
	if err != nil {
		return err
	}
	ref, err := s.Sign(cmd.Context(), w.image, w.options())
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("signed %s with %s", ref, s.Ref())
	if err := writeResults(w.resultsDir, map[string]string{"IMAGE": ref, "summary": summary}); err != nil {
		return err
	}
	return w.print(cmd.OutOrStdout(), written{Image: ref, Summary: summary})
}

type attestOptions struct {
	writeFlags
	predicate, predicateType string
}

func newAttestCommand(g *globalOptions) *cobra.Command {
	o := &attestOptions{writeFlags: writeFlags{globalOptions: g}}
	cmd := &cobra.Command{
		Use:   "attest",
		Short: "Attach a signed in-toto attestation to an image (the .att tag)",
		Long: `attest wraps a predicate (a JSON file) in an in-toto statement about the
image digest, signs it as a DSSE envelope and attaches it to the image's
.att tag, as cosign attest --key --replace does: this key's older
statement of the same type (and, for provenance, the same builder) is
replaced; other keys' statements stay.

--type takes cosign's names (vuln, cyclonedx, spdxjson, slsaprovenance1,
custom, ...) or a predicate type URI.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.attest(cmd); err != nil {
				return fillResults(o.resultsDir, attestResults, err)
			}
			return nil
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&o.predicate, "predicate", "", "the predicate, a JSON file (at most 16 MiB) (required)")
	cmd.Flags().StringVar(&o.predicateType, "type", "custom", "the predicate type: a cosign name or a URI")
	return cmd
}

// maxPredicateBytes bounds a predicate file: an ML-BOM of a large model
// is well under it; a mistake (a whole model passed) is not read.
const maxPredicateBytes = 16 << 20

func (o *attestOptions) attest(cmd *cobra.Command) error {
	pt, err := attest.ParsePredicateType(o.predicateType)
	if err != nil {
		return fmt.Errorf("--type: %w", err)
	}
	if o.predicate == "" {
		return fmt.Errorf("--predicate is required")
	}
	pred, err := readBounded(o.predicate, maxPredicateBytes)
	if err != nil {
		return fmt.Errorf("--predicate: %w", err)
	}
	if !json.Valid(pred) {
		return fmt.Errorf("--predicate %s is not JSON", o.predicate)
	}
	s, err := o.key.signer(cmd.Context(), o.kubeconfig, o.passwordFile)
	if err != nil {
		return err
	}
	ref, err := s.Attest(cmd.Context(), o.image, pt, json.RawMessage(pred), o.options())
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("attested %s about %s with %s", pt, ref, s.Ref())
	if err := writeResults(o.resultsDir, map[string]string{"IMAGE": ref, "PREDICATE_TYPE": pt, "summary": summary}); err != nil {
		return err
	}
	return o.print(cmd.OutOrStdout(), written{Image: ref, PredicateType: pt, Summary: summary})
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

type written struct {
	Image         string `json:"image"`
	PredicateType string `json:"predicateType,omitempty"`
	Summary       string `json:"summary"`
}

func (w written) WriteText(out io.Writer) error {
	_, err := fmt.Fprintln(out, w.Summary)
	return err
}
