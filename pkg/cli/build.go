package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/modelguard/modelguard/pkg/attest"
	"github.com/modelguard/modelguard/pkg/modelcar"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
)

type buildOptions struct {
	*globalOptions
	modelcar.Options
	runtime    string
	threshold  string
	epoch      string
	resultsDir string
	bomDir     string
	attachBOM  bool
}

func newBuildCommand(g *globalOptions) *cobra.Command {
	o := &buildOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build and push a model-serving image (KServe modelcar) from a model directory",
		Long: `build puts a model directory under /models on a base image and pushes it,
without a daemon and without root:

  - one uncompressed layer per large file (unchanged shards keep their digest
    and are never uploaded again), small files grouped in one layer;
  - deterministic tars: sorted paths, one mtime (--source-date-epoch,
    $SOURCE_DATE_EPOCH, or the model's git commit time), uid/gid 0, modes
    a=rX: the same inputs give the same digest on any machine;
  - the layout the serving runtime expects is checked before anything is
    pushed, and the tag moves only after every blob is in the registry.

Registry credentials come from the docker config ($DOCKER_CONFIG or
~/.docker/config.json), as Tekton's credential initialisation writes it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.run(cmd, args); err != nil {
				return fillResults(o.resultsDir, buildResults, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ModelDir, "model", "", "model directory (required)")
	f.StringVar(&o.Within, "within", "", "refuse a model directory, or a symlink in it, that resolves outside this directory (e.g. the workspace; default: the model directory)")
	f.StringVar(&o.Base, "base", "", "base image pinned by digest, repo@sha256:... (required)")
	f.BoolVar(&o.AllowTagBase, "allow-tag-base", false, "accept a base image by tag (not reproducible)")
	f.StringVar(&o.Target, "target", "", "image to push, e.g. registry/models/granite:1.0 (required)")
	f.StringVar(&o.runtime, "runtime", "none", "serving runtime whose layout to check: vllm, ovms, triton, caikit, none")
	f.StringVar(&o.threshold, "layer-threshold", "16Mi", "files at least this big get their own layer")
	f.StringVar(&o.epoch, "source-date-epoch", "", "the image's one timestamp, in Unix seconds (default $SOURCE_DATE_EPOCH, else the model's git commit time, else 0)")
	f.StringVar(&o.Source, "source", "", "org.opencontainers.image.source")
	f.StringVar(&o.Revision, "revision", "", "org.opencontainers.image.revision")
	f.StringVar(&o.Version, "version", "", "org.opencontainers.image.version")
	f.StringVar(&o.Title, "title", "", "org.opencontainers.image.title (default: the model directory's name)")
	f.StringVar(&o.Licenses, "licenses", "", "org.opencontainers.image.licenses (SPDX expression)")
	f.StringVar(&o.CacheDir, "cache-dir", defaultDigestCache(), "remembers layer digests so a rebuild hashes only what changed (\"\" disables)")
	f.StringVar(&o.BOMPath, "bom", "", "write a CycloneDX ML-BOM to this file (before the push)")
	f.StringVar(&o.bomDir, "bom-dir", "", "write the ML-BOM as mlbom.cdx.json in this directory; empty means none (for a Task's optional workspace)")
	f.BoolVar(&o.attachBOM, "attach-bom", false, "attach the ML-BOM to the image's .sbom tag (as cosign attach sbom does) and report its digest as MLBOM_DIGEST, for the controller to attest")
	f.StringVar(&o.resultsDir, "results-dir", "", "also write IMAGE_URL, IMAGE_DIGEST, STORAGE_URI, MLBOM_DIGEST and the Chains source hints CHAINS-GIT_URL/CHAINS-GIT_COMMIT here (a Tekton step passes /tekton/results)")
	return cmd
}

func defaultDigestCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "modelguard", "layer-digests")
}

// buildResults are the Task results the build writes (the Chains type
// hints, the storage URI, the attached ML-BOM's digest, and the source as
// Chains' CHAINS-GIT_* hints, which become the provenance's resolved
// dependencies); after a failure they are written empty.
var buildResults = []string{"IMAGE_URL", "IMAGE_DIGEST", "STORAGE_URI", "MLBOM_DIGEST", "CHAINS-GIT_URL", "CHAINS-GIT_COMMIT"}

func (o *buildOptions) run(cmd *cobra.Command, _ []string) error {
	var err error
	if o.ModelDir == "" {
		return fmt.Errorf("--model is required")
	}
	if o.Runtime, err = modelcar.ParseRuntime(o.runtime); err != nil {
		return fmt.Errorf("--runtime: %w", err)
	}
	q, err := resource.ParseQuantity(o.threshold)
	if err != nil || q.Value() <= 0 {
		return fmt.Errorf("--layer-threshold %q: want a size like 16Mi", o.threshold)
	}
	o.LayerThreshold = q.Value()
	if o.Created, err = modelcar.SourceDate(o.ModelDir, "--source-date-epoch", o.epoch); err != nil {
		return err
	}
	if o.bomDir != "" {
		if o.BOMPath != "" {
			return fmt.Errorf("--bom and --bom-dir: give one")
		}
		o.BOMPath = filepath.Join(o.bomDir, "mlbom.cdx.json")
	}
	if o.attachBOM && o.BOMPath == "" {
		o.BOMPath = filepath.Join(os.TempDir(), "mlbom.cdx.json")
	}
	res, err := modelcar.Build(cmd.Context(), o.Options)
	if err != nil {
		return err
	}
	out := map[string]string{"IMAGE_URL": res.ImageURL, "IMAGE_DIGEST": res.ImageDigest, "STORAGE_URI": res.StorageURI,
		"MLBOM_DIGEST": "", "CHAINS-GIT_URL": "", "CHAINS-GIT_COMMIT": ""}
	if o.Source != "" && o.Revision != "" {
		out["CHAINS-GIT_URL"], out["CHAINS-GIT_COMMIT"] = o.Source, o.Revision
	}
	if o.attachBOM {
		bom, err := readBounded(o.BOMPath, attest.MaxSBOMBytes)
		if err != nil {
			return fmt.Errorf("ML-BOM: %w", err)
		}
		ref := strings.TrimPrefix(res.StorageURI, "oci://")
		wo := attest.WriteOptions{Transport: o.Transport}
		if out["MLBOM_DIGEST"], err = attest.AttachSBOM(cmd.Context(), ref, bom, wo); err != nil {
			return err
		}
	}
	if err := writeResults(o.resultsDir, out); err != nil {
		return err
	}
	return o.print(cmd.OutOrStdout(), buildReport{res})
}

type buildReport struct{ *modelcar.Result }

func (b buildReport) WriteText(w io.Writer) error {
	for _, l := range b.Layers {
		from := ""
		if l.Cached {
			from = " (digest cached)"
		}
		fmt.Fprintf(w, "  layer %s %10d bytes  %s%s\n", l.Digest[:19], l.Size, summarizeFiles(l.Files), from)
	}
	_, err := fmt.Fprintf(w, "IMAGE_URL=%s\nIMAGE_DIGEST=%s\nstorageUri: %s\n", b.ImageURL, b.ImageDigest, b.StorageURI)
	return err
}

func summarizeFiles(files []string) string {
	if len(files) == 1 {
		return files[0]
	}
	return fmt.Sprintf("%d files (%s, ...)", len(files), files[0])
}
