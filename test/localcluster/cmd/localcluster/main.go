// Command localcluster builds the tools of a local control plane and starts
// or stops a detached one, for `make demo` and `make demo-stop`.
//
//	localcluster tools          build (or find) the binaries and images (node, Chains, tkn, policy-controller, Triggers, KServe) and print their paths
//	localcluster up --dir D     start etcd, kube-apiserver and Tekton in D, detached
//	localcluster down --dir D   stop the cluster recorded in D
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/modelguard/modelguard/test/localcluster"
	"github.com/modelguard/modelguard/test/tools"
)

const usage = `usage:
  localcluster tools          build the binaries and node images (cached per machine) and print their paths
  localcluster up --dir DIR   start a detached cluster with Tekton in DIR
  localcluster down --dir DIR stop the cluster running in DIR
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "localcluster: %v\n%s", err, usage)
		os.Exit(1)
	case err != nil:
		fmt.Fprintf(os.Stderr, "localcluster: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"missing subcommand"}
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet(sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // main prints the usage once
	dir := ""
	if sub == "up" || sub == "down" {
		fs.StringVar(&dir, "dir", "", "cluster working directory")
	}
	if err := fs.Parse(rest); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if (sub == "up" || sub == "down") && dir == "" {
		return usageError{sub + ": --dir is required"}
	}

	switch sub {
	case "tools":
		// The node's tools and images too, so that tests with a node
		// (Config.Node) start warm.
		t, err := tools.EnsureNode(ctx, stderr)
		if err != nil {
			return err
		}
		images, err := tools.EnsureNodeImages(ctx, stderr)
		if err != nil {
			return err
		}
		// Chains' controller image and tkn too: tests that install Chains
		// or run tkn build them on first use otherwise.
		chains, err := tools.EnsureChainsImage(ctx, stderr)
		if err != nil {
			return err
		}
		// Triggers and KServe: the git-push tests and the demo run them.
		if t, err = tools.EnsureWith(ctx, stderr, tools.Options{Node: true, Tkn: true, Resolvers: true, Triggers: true, KServe: true}); err != nil {
			return err
		}
		// policy-controller's webhook, which the admission tests run.
		policy, err := tools.EnsurePolicyControllerImage(ctx, stderr)
		if err != nil {
			return err
		}
		// The e2e suite also runs against the other Tekton versions the
		// README names (make test-tekton).
		var others [][2]string
		for _, v := range tools.TektonVersions[1:] {
			o, err := tools.EnsureWith(ctx, stderr, tools.Options{TektonVersion: v})
			if err != nil {
				return err
			}
			others = append(others, [2]string{"tekton-controller " + v, o.TektonController})
		}
		check, err := tools.EnsureTektonConfigCheck(ctx, stderr)
		if err != nil {
			return err
		}
		for _, l := range append([][2]string{
			{"etcd", t.Etcd}, {"kube-apiserver", t.KubeAPIServer}, {"kubectl", t.Kubectl},
			{"tekton-controller", t.TektonController}, {"registry", t.Registry},
			{"kubelet", t.Kubelet}, {"kube-scheduler", t.KubeScheduler},
			{"kube-controller-manager", t.KubeControllerManager}, {"ko", t.Ko},
			{"node images", images}, {"chains image", chains}, {"tkn", t.Tkn},
			{"tekton-resolvers", t.TektonResolvers}, {"tektonconfig-check", check},
			{"policy-controller image", policy},
			{"triggers-controller", t.TriggersController}, {"triggers-sink", t.TriggersSink},
			{"triggers-interceptors", t.TriggersInterceptors}, {"kserve-manager", t.KServeManager},
		}, others...) {
			fmt.Fprintf(stdout, "%-24s%s\n", l[0], l[1])
		}
		return nil
	case "up":
		c, err := localcluster.Start(ctx, localcluster.Config{Dir: dir, Log: stderr, Detach: true})
		if err != nil {
			return err
		}
		kc := c.Kubeconfig(localcluster.UserAdmin)
		fmt.Fprintf(stdout, "cluster running in %s (server %s)\nadmin kubeconfig: %s\nexport KUBECONFIG=%s\n", c.Dir, c.Server, kc, kc)
		return nil
	case "down":
		return localcluster.StopDir(dir)
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
	}
}
