package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

type guardOptions struct {
	*globalOptions
	kubeconfig  string
	namespace   string
	profile     string
	groups      map[guard.Persona]*[]string
	users       map[guard.Persona]*[]string
	ingress     []string
	egress      []string
	quota       []string
	limits      []string
	podSecurity string
	resultsDir  string
}

func newGuardCommand(g *globalOptions) *cobra.Command {
	o := &guardOptions{globalOptions: g, groups: map[guard.Persona]*[]string{}, users: map[guard.Persona]*[]string{}}
	for _, p := range guard.Personas {
		o.groups[p], o.users[p] = new([]string), new([]string)
	}
	cmd := &cobra.Command{
		Use:   "guard",
		Short: "Lock down a model-serving namespace: persona RBAC, NetworkPolicies, quota, Pod Security",
		Long: `guard applies, diffs or verifies a namespace's guardrails with your own
credentials (or the Task's ServiceAccount): RoleBindings of the persona
ClusterRoles installed by config/, NetworkPolicies, a ResourceQuota
(GPUs included), a LimitRange and Pod Security labels.

  apply   make the namespace match, then check the access matrix
  diff    show what apply would change; write nothing
  verify  fail (exit 2) if a guarded object was edited by hand or the
          access matrix does not hold`,
	}
	for _, mode := range []guard.Mode{guard.ModeApply, guard.ModeDiff, guard.ModeVerify} {
		cmd.AddCommand(o.subcommand(mode))
	}
	return cmd
}

func (o *guardOptions) subcommand(mode guard.Mode) *cobra.Command {
	short := map[guard.Mode]string{
		guard.ModeApply:  "Apply the guardrails and prove them with SubjectAccessReviews",
		guard.ModeDiff:   "Show what apply would change, writing nothing",
		guard.ModeVerify: "Fail if guarded objects drifted or the access matrix does not hold",
	}[mode]
	cmd := &cobra.Command{
		Use:   string(mode),
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.run(cmd, mode); err != nil {
				var denied *DeniedError
				if errors.As(err, &denied) {
					return err // the results are written
				}
				return fillResults(o.resultsDir, guardResults, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	f.StringVar(&o.namespace, "namespace", "", "namespace to guard (required)")
	f.StringVar(&o.profile, "profile", "", "dev, staging or prod (default: the profile a cluster admin declared on the namespace, which it must match)")
	for _, p := range guard.Personas {
		f.StringSliceVar(o.groups[p], string(p)+"-group", nil, "groups given the "+string(p)+" persona (repeat or comma-separate)")
		f.StringSliceVar(o.users[p], string(p)+"-user", nil, "users given the "+string(p)+" persona")
	}
	f.StringSliceVar(&o.ingress, "ingress", nil, "allowed sources: openshift-router, monitoring, knative, istio, namespace:<name>")
	f.StringSliceVar(&o.egress, "egress", nil, "allowed destinations besides DNS: CIDR or CIDR:port")
	f.StringSliceVar(&o.quota, "quota", nil, "ResourceQuota overrides, e.g. gpu=2,cpu=8")
	f.StringSliceVar(&o.limits, "limit", nil, "LimitRange overrides, e.g. max-gpu=1")
	f.StringVar(&o.podSecurity, "pod-security", "restricted", "Pod Security level: restricted, baseline or privileged")
	f.StringVar(&o.resultsDir, "results-dir", "", "also write each result to a file here (a Tekton step passes /tekton/results)")
	return cmd
}

// spec turns flags into a guard.Spec; errors name the flag.
func (o *guardOptions) spec() (*guard.Spec, error) {
	if o.namespace == "" {
		return nil, errors.New("--namespace is required")
	}
	s := &guard.Spec{Namespace: o.namespace, Profile: guard.Profile(o.profile), Subjects: map[guard.Persona]guard.Subjects{},
		PodSecurity: o.podSecurity}
	for _, p := range guard.Personas {
		s.Subjects[p] = guard.Subjects{Groups: nonEmpty(*o.groups[p]), Users: nonEmpty(*o.users[p])}
	}
	var errs []error
	var err error
	if s.Quota, err = keyValues("--quota", o.quota); err != nil {
		errs = append(errs, err)
	}
	if s.Limits, err = keyValues("--limit", o.limits); err != nil {
		errs = append(errs, err)
	}
	for _, in := range nonEmpty(o.ingress) {
		src, err := guard.ParseIngress(in)
		if err != nil {
			errs = append(errs, fmt.Errorf("--ingress %v", err))
		}
		s.Ingress = append(s.Ingress, src)
	}
	for _, e := range nonEmpty(o.egress) {
		rule, err := guard.ParseEgress(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("--egress %v", err))
		}
		s.Egress = append(s.Egress, rule)
	}
	if err := s.Validate(); err != nil {
		errs = append(errs, flagErrors(unwrapAll(err))...)
	}
	return s, errors.Join(errs...)
}

// flagErrors renames guard.Spec fields to the flags that set them.
func flagErrors(in []error) []error {
	var out []error
	for _, e := range in {
		var fe *guard.FieldError
		if errors.As(e, &fe) {
			out = append(out, fmt.Errorf("%s: %s", flagFor(fe), fe.Problem))
		} else {
			out = append(out, e)
		}
	}
	return out
}

// guardResults are the namespace-guard Task's results.
var guardResults = []string{"created", "changed", "unchanged", "deleted", "foreign", "summary", "access-matrix"}

func (o *guardOptions) run(cmd *cobra.Command, mode guard.Mode) error {
	spec, err := o.spec()
	if err != nil {
		return err
	}
	engine, err := o.engine()
	if err != nil {
		return err
	}
	report, err := engine.Run(cmd.Context(), spec, mode, "")
	var limits *guard.LimitError
	if errors.As(err, &limits) {
		// The cluster admin's limits said no: a policy answer (exit 2),
		// with every result written.
		var fields []error
		for _, f := range limits.Fields {
			fields = append(fields, f)
		}
		cause := fmt.Errorf("LimitExceeded: %s", strings.ReplaceAll(errors.Join(flagErrors(fields)...).Error(), "\n", "; "))
		if err := fillResults(o.resultsDir, guardResults, cause); err != cause {
			return err
		}
		return &DeniedError{Reason: cause.Error()}
	}
	if err != nil {
		return err
	}
	if err := o.print(cmd.OutOrStdout(), guardReport{report}); err != nil {
		return err
	}
	if err := writeResults(o.resultsDir, resultValues(report)); err != nil {
		return err
	}
	if reason, msg := report.Problem(); reason != "" {
		return &DeniedError{Reason: reason + ": " + msg}
	}
	return nil
}

func (o *guardOptions) engine() (*guard.Engine, error) {
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 100, 200
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &guard.Engine{Kube: kube, Dynamic: dyn}, nil
}

// resultValues are the Tekton results of a guard run, all of them every
// time.
func resultValues(r *guard.Report) map[string]string {
	files := map[string]string{"summary": r.Summary(), "access-matrix": r.MatrixSummary()}
	for _, a := range []string{guard.Created, guard.Changed, guard.Unchanged, guard.Deleted, guard.Foreign} {
		files[a] = strings.Join(r.Refs(a), ",")
	}
	return files
}

// guardReport prints a Report: JSON as is, text as a change list, diffs,
// and the full access matrix.
type guardReport struct{ *guard.Report }

func (g guardReport) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "namespace %s (profile %s), %s\n", g.Namespace, g.Profile, g.Mode)
	for _, c := range g.Changes {
		fmt.Fprintf(w, "  %-9s %s\n", c.Action, c.Ref)
		if c.Diff != "" && g.Mode != guard.ModeApply {
			fmt.Fprintln(w, indent(c.Diff, "            "))
		}
	}
	if len(g.Checks) > 0 {
		fmt.Fprintln(w, "\naccess matrix (SubjectAccessReviews against the cluster):")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PERSONA\tSUBJECT\tREQUEST\tWANT\tGOT\t")
		for _, c := range g.Checks {
			mark := "ok"
			if !c.OK() {
				mark = "MISMATCH"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", c.Persona, c.Subject, c.Access, allowWord(c.Want), allowWord(c.Got), mark)
		}
		tw.Flush()
	}
	_, err := fmt.Fprintln(w, "\n"+g.Summary())
	return err
}

func allowWord(b bool) string {
	if b {
		return "allow"
	}
	return "deny"
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// keyValues reads key=value items; an empty flag (a Task passes every
// flag, set or not) means no overrides.
func keyValues(flag string, items []string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range nonEmpty(items) {
		k, v, ok := strings.Cut(item, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want key=value", flag, item)
		}
		out[k] = v
	}
	return out, nil
}

func nonEmpty(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func flagFor(fe *guard.FieldError) string {
	switch fe.Field {
	case "Groups":
		return "--" + fe.Key + "-group"
	case "Users":
		return "--" + fe.Key + "-user"
	case "Quota":
		return "--quota " + fe.Key
	case "Limits":
		return "--limit " + fe.Key
	case "PodSecurity":
		return "--pod-security"
	}
	return "--" + strings.ToLower(fe.Field)
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
