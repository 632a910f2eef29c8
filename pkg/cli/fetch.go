package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/modelguard/modelguard/pkg/source"
	"github.com/spf13/cobra"
)

type fetchOptions struct {
	*globalOptions
	source.Options
	credentialsDir string
	resultsDir     string
}

// fetchResults are the model-fetch Task's results. CHAINS-GIT_* are the
// type hints Tekton Chains records as the provenance's source material.
var fetchResults = []string{"commit", "url", "committer-date", "CHAINS-GIT_COMMIT", "CHAINS-GIT_URL", "summary"}

func newFetchCommand(g *globalOptions) *cobra.Command {
	o := &fetchOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "fetch",
		Short: "Fetch a model's source at one git commit, shallow, and prove it is that commit",
		Long: `fetch checks out --revision of the repository --url into --dir, downloading
only that commit (depth 1 by default) over git's smart HTTP protocol:

  - a 40-hex --revision is fetched by SHA (the server must allow it, as GitHub
    and GitLab do), and the commit checked out is proven to be that SHA;
  - a branch or tag is fetched at its tip, and the commit is reported;
  - --dir gets the commit's files only (no .git), so a model build copies
    nothing else;
  - Git LFS pointers are refused with the files named (a model built from
    pointers would serve nothing), as are symlinks that leave the checkout.

Credentials come from --credentials-dir: a mounted kubernetes.io/basic-auth
Secret (files username and password; a token as the password works for
GitHub and GitLab).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.run(cmd); err != nil {
				return fillResults(o.resultsDir, fetchResults, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "", "repository URL, http(s):// (required)")
	f.StringVar(&o.Revision, "revision", "", "commit SHA, branch or tag (required)")
	f.StringVar(&o.Dir, "dir", "", "directory to check out into; must be empty or absent (required)")
	f.IntVar(&o.Depth, "depth", 1, "commits of history to fetch")
	f.StringVar(&o.credentialsDir, "credentials-dir", "", "a mounted basic-auth Secret (username, password); given but empty (an unbound optional Task workspace) means none")
	f.StringVar(&o.resultsDir, "results-dir", "", "also write each result to a file here (a Tekton step passes /tekton/results)")
	return cmd
}

func (o *fetchOptions) run(cmd *cobra.Command) error {
	if o.credentialsDir != "" {
		var err error
		if o.Username, o.Password, err = readBasicAuth(o.credentialsDir); err != nil {
			return err
		}
	}
	res, err := source.Fetch(cmd.Context(), o.Options)
	if err != nil {
		var lfs *source.LFSError
		if errors.As(err, &lfs) {
			return fmt.Errorf("%s at %s: %w", o.URL, o.Revision, err)
		}
		return err
	}
	summary := fmt.Sprintf("%s at %s (%s): %d files, %q", res.URL, res.Commit, res.Ref, res.Files, res.Subject)
	epoch := strconv.FormatInt(res.Committed.Unix(), 10)
	if err := writeResults(o.resultsDir, map[string]string{"commit": res.Commit, "url": res.URL, "committer-date": epoch,
		"CHAINS-GIT_COMMIT": res.Commit, "CHAINS-GIT_URL": res.URL, "summary": summary}); err != nil {
		return err
	}
	if o.output == "json" {
		return render(cmd.OutOrStdout(), "json", res)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "fetched %s\ncommitted %s (source-date-epoch %s)\n", summary, res.Committed.Format("2006-01-02T15:04:05Z"), epoch)
	return err
}

// readBasicAuth reads a mounted basic-auth Secret. An empty directory (an
// unbound optional workspace) means no credentials; a Secret with only
// one of the two keys is a mistake worth naming.
func readBasicAuth(dir string) (user, password string, err error) {
	read := func(name string) (string, bool, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("--credentials-dir: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), true, nil
	}
	user, hasUser, err := read("username")
	if err != nil {
		return "", "", err
	}
	password, hasPassword, err := read("password")
	if err != nil {
		return "", "", err
	}
	if hasUser != hasPassword {
		return "", "", fmt.Errorf("--credentials-dir %s: want both username and password (a kubernetes.io/basic-auth Secret)", dir)
	}
	return user, password, nil
}
