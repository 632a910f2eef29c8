package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/pkg/results"
	"github.com/modelguard/modelguard/pkg/workload"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
)

type acsWatchOptions struct {
	acsOptions
	ref            workload.Ref
	opts           gate.WatchOptions
	since          string
	from           string
	allowProcesses []string
}

// watchLists are the list flags that may also come after "--", one
// section per list, since a Tekton array param expands into separate
// arguments but cannot repeat a flag before each.
var watchLists = []string{"--allow-processes", "--deny-policies", "--deny-categories", "--accept-inconclusive"}

func newACSWatchCommand(g *globalOptions) *cobra.Command {
	o := &acsWatchOptions{acsOptions: acsOptions{globalOptions: g}}
	cmd := &cobra.Command{
		Use:   "watch (--deployment NAME | --inferenceservice NAME) [flags] [-- LISTS...]",
		Short: "Watch a new rollout through Central's runtime alerts; fail on what its containers do",
		Long: `watch follows a workload just rolled out, by its Kubernetes UID (Central's
deployment id), for --window from --since, then --grace more, and fails (exit 2)
on an alert for it at or above --severity, an enforcement (pod killed, request
blocked), a policy or category on a deny list, an alert resolved during the
window, or a process outside --allow-processes. It stops at the first finding
and, with --on-fail scale-to-zero, scales the Deployments to zero.

It passes only what it could check: the token reads alerts, deployments,
processes and cluster health; Sensor and Collector are HEALTHY; Central
reports the deployment and processes of it. Otherwise the verdict is
inconclusive (exit 1) unless --accept-inconclusive names the reason. The
same engine runs the RuntimeWatch custom task.

Lists can be given after --, each after its flag name, as a Task step does
with array params: -- --allow-processes server:/usr/bin/modelguard --deny-policies X.`,
		Annotations: map[string]string{formalOutput: "yes"},
		RunE: o.runE(func(v gate.Verdict) results.Results {
			return gate.RuntimeReport{Decision: gate.RuntimeError, Verdict: v}.Results()
		}, o.watch),
	}
	f := cmd.Flags()
	f.StringVar(&o.ref.Namespace, "namespace", "", "the workload's namespace (default: the kubeconfig's)")
	f.StringVar(&o.ref.Deployment, "deployment", "", "the Deployment to watch: name, or namespace/name as model-deploy's DEPLOYMENT result gives it")
	f.StringVar(&o.ref.InferenceService, "inferenceservice", "", "the InferenceService whose Deployments to watch (KServe's "+workload.InferenceServiceLabel+" label)")
	f.StringVar(&o.opts.Window, "window", gate.DefaultWindow.String(), "how long to watch from --since")
	f.StringVar(&o.opts.Grace, "grace", gate.DefaultGrace.String(), "how long to keep polling after the window before a pass")
	f.StringVar(&o.opts.Poll, "poll", gate.DefaultPoll.String(), "how often to ask Central")
	f.StringVar(&o.since, "since", "", "when the rollout started, RFC 3339 (default: now)")
	f.StringVar(&o.opts.Severity, "severity", "HIGH", "fail on alerts at or above LOW, MEDIUM, HIGH or CRITICAL")
	f.BoolVar(&o.opts.IncludeDeploy, "include-deploy", false, "count DEPLOY-stage alerts as well as RUNTIME ones")
	f.StringArrayVar(&o.opts.DenyPolicies, "deny-policies", nil, "a policy that fails the watch at any severity (repeatable)")
	f.StringArrayVar(&o.opts.DenyCategories, "deny-categories", nil, "a policy category that fails the watch at any severity (repeatable)")
	f.StringArrayVar(&o.allowProcesses, "allow-processes", nil, "container:/path an executable the containers may run (repeatable; none: no check)")
	f.StringArrayVar(&o.opts.AcceptInconclusive, "accept-inconclusive", nil, "an inconclusive reason that does not fail: "+strings.Join(gate.InconclusiveReasons, ", "))
	f.StringVar(&o.opts.OnFail, "on-fail", string(gate.OnFailNone), "none, or scale-to-zero: scale the watched Deployments to zero on a fail")
	f.StringVar(&o.from, "from-namespace", "", "act for a run in this namespace: the workload's namespace must then have been handed to it "+
		"(the NamespaceGuard opt-in) to be watched from elsewhere, and always to be rolled back (a Task passes its own)")
	o.flags(f)
	_ = f.MarkHidden("cluster") // a watch delegates nothing to a secured cluster
	return cmd
}

// watch runs the watch; finish writes its report on every path (results,
// report file, output) and maps the outcome to exit 0, 2 or 1.
func (o *acsWatchOptions) watch(cmd *cobra.Command, args []string) error {
	in, err := o.input(cmd, args)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	r, err := gate.WatchRuntime(cmd.Context(), o.runtimeCentral(stderr), in, func(p gate.WatchProgress) { writeProgress(stderr, o.ref, p) })
	if err != nil {
		r = gate.RuntimeReport{Decision: gate.RuntimeError, Verdict: gate.CouldNotRun(gate.ReasonStopped, fmt.Errorf("the watch was stopped before it could decide: %w", err))}
	}
	return o.finish(cmd.OutOrStdout(), watchOutput{r, o.ref})
}

// runtimeCentral is o.central for the runtime calls: settings that cannot
// be used give a Central the watch reports as ACSSecretUnavailable.
func (o *acsWatchOptions) runtimeCentral(stderr io.Writer) gate.RuntimeCentral {
	c, err := o.client(stderr)
	if err != nil {
		return gate.UnreachableRuntime(err)
	}
	return c
}

// input checks the flags and connects to Kubernetes; its errors name the
// flag or setting.
func (o *acsWatchOptions) input(cmd *cobra.Command, args []string) (gate.WatchInput, error) {
	var in gate.WatchInput
	if err := o.lists(cmd, args); err != nil {
		return in, err
	}
	o.opts.AllowProcesses = o.allowProcesses
	policy, timing, onFail, err := o.opts.Parse()
	if err != nil {
		return in, flagNames(err)
	}
	start := time.Now()
	if o.since != "" {
		if start, err = time.Parse(time.RFC3339, o.since); err != nil {
			return in, fmt.Errorf("--since %q: want an RFC 3339 time such as 2026-11-25T12:00:00Z", o.since)
		}
	}
	if err := o.resolveReport(cmd); err != nil {
		return in, err
	}
	kc := kubeconfigFile(o.kubeconfig)
	var refErr *workload.RefError
	if o.ref, err = o.ref.Resolve(func() (string, error) { ns, _, err := kc.Namespace(); return ns, err }); errors.As(err, &refErr) {
		return in, fmt.Errorf("--%s: %s", refErr.Field, refErr.Problem)
	}
	cfg, err := kc.ClientConfig()
	if err != nil {
		return in, fmt.Errorf("kubeconfig: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return in, err
	}
	return gate.WatchInput{Start: start, Timing: timing, Policy: policy, OnFail: onFail,
		Workloads: &workload.Workloads{Kube: kube, Ref: o.ref, From: o.from, Rollback: onFail == gate.OnFailScaleToZero}}, nil
}

// lists reads the list sections after "--".
func (o *acsWatchOptions) lists(cmd *cobra.Command, args []string) error {
	if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
		return fmt.Errorf("unexpected argument %q: lists go after --, each after its flag name", args[0])
	}
	targets := map[string]*[]string{watchLists[0]: &o.allowProcesses, watchLists[1]: &o.opts.DenyPolicies,
		watchLists[2]: &o.opts.DenyCategories, watchLists[3]: &o.opts.AcceptInconclusive}
	var into *[]string
	for _, a := range args {
		if t, ok := targets[a]; ok {
			into = t
			continue
		}
		if into == nil {
			return fmt.Errorf("%q after --: name its list first (%s)", a, strings.Join(watchLists, ", "))
		}
		*into = append(*into, a)
	}
	return nil
}

func writeProgress(w io.Writer, ref workload.Ref, p gate.WatchProgress) {
	what := ref.Namespace + "/" + ref.Deployment + ref.InferenceService
	msg := fmt.Sprintf("modelguard: watch %s: %s", what, p.Phase)
	if !p.WindowEnd.IsZero() {
		msg += fmt.Sprintf(" (%d/%d seen by Central, %d process(es), window ends %s)", p.Seen, p.Targets, p.Processes, p.WindowEnd.UTC().Format(time.TimeOnly))
	}
	if p.LastError != "" {
		msg += "; last error: " + p.LastError
	}
	fmt.Fprintln(w, msg)
}

// flagNames writes each bad option as its flag.
func flagNames(err error) error {
	var oes gate.OptionErrors
	if !errors.As(err, &oes) {
		return err
	}
	errs := make([]error, len(oes))
	for i, oe := range oes {
		errs[i] = fmt.Errorf("--%s %s", oe.Option, oe.Problem)
	}
	return errors.Join(errs...)
}
