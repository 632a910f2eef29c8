// Command release builds, pushes and signs a modelguard release:
//
//	make release KO_DOCKER_REPO=registry.example.com/modelguard VERSION=v0.1.0
//
// It builds the controller and CLI images with ko for linux/amd64 and
// linux/arm64 on a base pinned by digest, renders config/ into
// release.yaml (images as tag@digest) and release.notags.yaml (digests
// only, which CRI-O needs), resolves every Task's and Pipeline's default
// step image to the released CLI by digest, pushes one Tekton bundle per
// Task and Pipeline in the shape `tkn bundle push` makes, signs every
// image and bundle with a cosign key, and writes it all under -out, with
// digests.json listing what was pushed. The same checkout, version, base
// and key give the same digests.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if err == nil {
		var r *Result
		if r, err = Run(ctx, o); err == nil {
			fmt.Printf("release %s: %s and %s, %d bundles, in %s\n", r.Version, r.Images["controller"], r.Images["modelguard"], len(r.Bundles), o.Out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

// parseFlags reads the options from args, with the environment (getenv)
// as make passes it: KO_DOCKER_REPO, VERSION, KO_DEFAULTBASEIMAGE,
// COSIGN_KEY and COSIGN_PASSWORD.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Version, "version", getenv("VERSION"), "the release version, vMAJOR.MINOR.PATCH (env VERSION)")
	fs.StringVar(&o.Repo, "repo", getenv("KO_DOCKER_REPO"), "where images and bundles go (env KO_DOCKER_REPO)")
	fs.StringVar(&o.Base, "base", getenv("KO_DEFAULTBASEIMAGE"), "the images' base, pinned by digest (env KO_DEFAULTBASEIMAGE; default: .ko.yaml's defaultBaseImage)")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "platforms to build, comma-separated")
	fs.StringVar(&o.Out, "out", "", "output dir (default _release/<version>)")
	fs.StringVar(&o.KeyFile, "key", getenv("COSIGN_KEY"), "cosign private key file that signs every image and bundle; its password is $COSIGN_PASSWORD (env COSIGN_KEY; empty: unsigned, with a warning)")
	fs.StringVar(&o.Root, "root", ".", "the modelguard checkout")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	o.Platforms = strings.Split(*platforms, ",")
	o.Password = []byte(getenv("COSIGN_PASSWORD"))
	if o.Out == "" {
		o.Out = "_release/" + o.Version
	}
	o.Log = stderr
	return o, nil
}
