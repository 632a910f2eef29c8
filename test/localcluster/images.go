package localcluster

import (
	"context"
	"fmt"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/modelguard/modelguard/test/tools"
)

// Images are the references, by digest in the cluster's registry, of the
// images a node's pods use.
type Images struct {
	Busybox           string // shell base: busybox-static and its applets
	Pause             string // pod sandbox (containerd's sandbox_image)
	Entrypoint        string // Tekton's entrypoint, built by ko
	Nop               string // Tekton's nop
	WorkingDirInit    string // Tekton's workingdirinit
	SidecarLogResults string // Tekton's sidecarlogresults
}

// push pushes every node image into the registry at host, in parallel, and
// returns their references by digest.
func pushNodeImages(ctx context.Context, ni *tools.NodeImages, host, tektonVersion string) (*Images, error) {
	out := &Images{}
	jobs := []struct {
		ref string
		img v1.Image
		dst *string
	}{
		{host + "/busybox:latest", ni.Busybox, &out.Busybox},
		{host + "/pause:latest", ni.Pause, &out.Pause},
		{host + "/tekton/entrypoint:" + tools.TektonVersion, ni.Tekton["entrypoint"], &out.Entrypoint},
		{host + "/tekton/nop:" + tools.TektonVersion, ni.Tekton["nop"], &out.Nop},
		{host + "/tekton/workingdirinit:" + tools.TektonVersion, ni.Tekton["workingdirinit"], &out.WorkingDirInit},
		{host + "/tekton/sidecarlogresults:" + tools.TektonVersion, ni.Tekton["sidecarlogresults"], &out.SidecarLogResults},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Go(func() {
			*j.dst, errs[i] = tools.PushImage(ctx, j.ref, j.img)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// KoBuild builds the main package importPath of the Go module in dir with ko
// on the cluster's busybox base and pushes it into the cluster's registry as
// <Registry>/<last element of importPath>. It returns the reference by
// digest. The cluster must have a node (Config.Node).
func (c *Cluster) KoBuild(ctx context.Context, dir, importPath string) (string, error) {
	if c.Images == nil || c.Registry == "" {
		return "", fmt.Errorf("ko build %s: the cluster has no node registry (Config.Node)", importPath)
	}
	refs, err := tools.KoBuild(ctx, tools.KoOptions{
		Ko: c.Tools.Ko, Dir: dir, ImportPaths: []string{importPath},
		Repo: c.Registry + "/modelguard", Base: c.Images.Busybox, Log: c.log,
	})
	if err != nil {
		return "", err
	}
	return refs[0], nil
}
