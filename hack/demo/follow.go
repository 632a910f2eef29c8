package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// child is one pipeline task's run as the follower saw it.
type child struct {
	task, kind string
	started    time.Time
	done       bool
	results    map[string]string
}

// follow waits for the PipelineRun the push started (labelled with the
// commit), then prints each task as it starts and ends, with the time
// since the push, until the run is done. It returns the run and its
// children's results by pipeline task.
func follow(ctx context.Context, tk tekton.Interface, ns, commit string, pushed time.Time, out io.Writer) (*pipelinev1.PipelineRun, map[string]*child, error) {
	at := func() string {
		d := time.Since(pushed).Round(time.Second)
		return fmt.Sprintf("[%02d:%02d]", int(d.Minutes()), int(d.Seconds())%60)
	}
	var name string
	for name == "" {
		prs, err := tk.TektonV1().PipelineRuns(ns).List(ctx, metav1.ListOptions{LabelSelector: "modelguard.dev/git-revision=" + commit})
		if err != nil {
			return nil, nil, err
		}
		if len(prs.Items) > 0 {
			name = prs.Items[0].Name
			break
		}
		if time.Since(pushed) > time.Minute {
			return nil, nil, fmt.Errorf("no PipelineRun for commit %s a minute after the push", commit)
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(out, "%s PipelineRun %s/%s created by the EventListener for commit %s\n", at(), ns, name, commit[:12])
	children := map[string]*child{}
	skipped := map[string]bool{}
	deadline := time.Now().Add(15 * time.Minute)
	for {
		pr, err := tk.TektonV1().PipelineRuns(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		for _, ref := range pr.Status.ChildReferences {
			ch := children[ref.PipelineTaskName]
			if ch == nil {
				ch = &child{task: ref.PipelineTaskName, kind: ref.Kind, started: time.Now()}
				children[ref.PipelineTaskName] = ch
				how := "pod"
				if ref.Kind == "CustomRun" {
					how = "custom task, no pod"
				}
				fmt.Fprintf(out, "%s   ▶ %-16s started (%s)\n", at(), ch.task, how)
			}
			if ch.done {
				continue
			}
			cond, results, err := childStatus(ctx, tk, ns, ref)
			if err != nil || cond == nil || cond.IsUnknown() {
				continue
			}
			ch.done, ch.results = true, results
			mark := "✓"
			if cond.IsFalse() {
				mark = "✗"
			}
			fmt.Fprintf(out, "%s   %s %-16s %s in %s\n", at(), mark, ch.task, cond.Reason, time.Since(ch.started).Round(100*time.Millisecond))
			if cond.IsFalse() {
				fmt.Fprintf(out, "              %s\n", cond.Message)
			}
		}
		for _, s := range pr.Status.SkippedTasks {
			if !skipped[s.Name] {
				skipped[s.Name] = true
				fmt.Fprintf(out, "%s   – %-16s skipped (%s)\n", at(), s.Name, s.Reason)
			}
		}
		if c := pr.Status.GetCondition(apis.ConditionSucceeded); c != nil && !c.IsUnknown() {
			fmt.Fprintf(out, "%s PipelineRun %s: %s\n", at(), c.Reason, c.Message)
			return pr, children, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("PipelineRun %s not done after 15 minutes", name)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// childStatus reads a TaskRun's or CustomRun's condition and results.
func childStatus(ctx context.Context, tk tekton.Interface, ns string, ref pipelinev1.ChildStatusReference) (*apis.Condition, map[string]string, error) {
	results := map[string]string{}
	switch ref.Kind {
	case "TaskRun":
		tr, err := tk.TektonV1().TaskRuns(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		for _, r := range tr.Status.Results {
			results[r.Name] = r.Value.StringVal
		}
		return tr.Status.GetCondition(apis.ConditionSucceeded), results, nil
	case "CustomRun":
		cr, err := tk.TektonV1beta1().CustomRuns(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		for _, r := range cr.Status.Results {
			results[r.Name] = r.Value
		}
		return cr.Status.GetCondition(apis.ConditionSucceeded), results, nil
	}
	return nil, nil, fmt.Errorf("unknown child kind %s", ref.Kind)
}

// summary prints what the release did, from the tasks' results.
func summary(out io.Writer, pr *pipelinev1.PipelineRun, children map[string]*child, signed, provenance, served string) {
	res := func(task, name string) string {
		if ch := children[task]; ch != nil {
			return ch.results[name]
		}
		return ""
	}
	pres := map[string]string{}
	for _, r := range pr.Status.Results {
		pres[r.Name] = r.Value.StringVal
	}
	line := func(k, v string) { fmt.Fprintf(out, "  %-19s %s\n", k, v) }
	fmt.Fprintln(out, "\n──────── release summary ────────")
	line("commit", pres["commit"]+" ("+pr.Annotations["modelguard.dev/git-url"]+")")
	line("image", pres["IMAGE_URL"])
	line("digest", pres["IMAGE_DIGEST"])
	var counts []string
	for _, sev := range []string{"critical", "important", "moderate", "low"} {
		counts = append(counts, fmt.Sprintf("%s %s (fixable %s)", sev, orDash(res("scan", sev)), orDash(res("scan", "fixable-"+sev))))
	}
	line("CVEs", strings.Join(counts, ", "))
	line("scan gate", res("scan", "gate")+": "+res("scan", "summary"))
	line("build policies", res("check", "summary"))
	line("deploy policies", res("deploy-check", "summary"))
	line("verified", pres["verify-summary"])
	line("checked again", pres["verified"]+" (model-deploy, before it applied anything)")
	line("signed by Chains", signed)
	line("pipeline provenance", provenance)
	fmt.Fprintln(out, "  guard (who may do what in "+servingNS+", as the API server answered):")
	matrix := res("guard", "access-matrix")
	if matrix == "" {
		matrix = pres["access-matrix"]
	}
	for _, l := range strings.Split(strings.TrimSpace(matrix), "\n") {
		fmt.Fprintln(out, "    "+l)
	}
	line("runtime watch", pres["runtime-verdict"]+": "+pres["runtime-summary"])
	line("served", pres["deployed"])
	line("served digest", pres["served-digest"])
	if pres["modelcar"] != "" {
		line("modelcar", pres["modelcar"]+" (injected by KServe's pod webhook)")
	}
	if served != "" {
		line("model answers", served)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
