package acs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

const (
	fixtureDeployment = "5f0c7a2e-3b1d-4c8e-9a6f-2d4b8e1c7f90"
	fixtureCluster    = "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6"
	fixtureAlert      = "3c1f9e2a-7b4d-4e8a-9f6c-1a2b3c4d5e6f"
)

// Each runtime call decodes its fixture (acs-runtime.md §1-§5) and asks
// for exactly the path and query Central serves.
func TestRuntimeCallsDecodeFixtures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, fixture, path string
		query               url.Values
		call                func(c *Client) error
	}{
		{
			name: "deployment", fixture: "deployment-granite-predictor.json", path: "/v1/deployments/" + fixtureDeployment,
			call: func(c *Client) error {
				d, err := c.GetDeployment(ctx, fixtureDeployment)
				if err == nil && (d.ID != fixtureDeployment || d.ClusterID != fixtureCluster || len(d.Containers) != 1 ||
					d.Containers[0].Name != "kserve-container" || d.Containers[0].Image.ID == "" || d.Namespace != "fraud-prod") {
					return fmt.Errorf("deployment not decoded: %+v", d)
				}
				return err
			},
		},
		{
			// Trap 1 and §2: the states are named, the + is sent as %2B.
			name: "alerts", fixture: "alerts-runtime-deployment.json", path: "/v1/alerts",
			query: url.Values{"query": {"Deployment ID:" + fixtureDeployment + "+Violation State:ACTIVE,ATTEMPTED,RESOLVED"},
				"pagination.limit": {"250"}, "pagination.offset": {"0"}},
			call: func(c *Client) error {
				as, err := c.ListAlerts(ctx, AlertQuery{DeploymentID: fixtureDeployment, States: AllAlertStates})
				if err != nil {
					return err
				}
				if len(as) != 2 || as[0].Policy.Name != "Netcat Execution Detected" || as[0].LifecycleStage != StageRuntime ||
					as[0].EnforcementAction != EnforcementKillPod || as[0].Deployment.ID != fixtureDeployment ||
					as[1].State != AlertResolved || as[0].Time.IsZero() || as[0].Policy.Severity != PolicySeverityHigh {
					return fmt.Errorf("alerts not decoded: %+v", as)
				}
				return nil
			},
		},
		{
			name: "alert", fixture: "alert-runtime-process-violation.json", path: "/v1/alerts/" + fixtureAlert,
			call: func(c *Client) error {
				a, err := c.GetAlert(ctx, fixtureAlert)
				if err != nil {
					return err
				}
				pv := a.ProcessViolation
				if pv == nil || len(pv.Processes) != 1 || pv.Processes[0].Signal.ExecFilePath != "/usr/bin/nc" ||
					pv.Processes[0].PodID == "" || a.Enforcement.Action != EnforcementKillPod || a.Deployment.ID != fixtureDeployment {
					return fmt.Errorf("alert not decoded: %+v", a)
				}
				if a.Policy.PolicySections != nil || a.Deployment.Labels != nil {
					return errors.New("the policy's criteria and the labels should not be kept")
				}
				return nil
			},
		},
		{
			name: "process count", fixture: "processcount.json", path: "/v1/processcount",
			query: url.Values{"query": {"Deployment ID:" + fixtureDeployment}},
			call: func(c *Client) error {
				n, err := c.ProcessCount(ctx, fixtureDeployment)
				if err == nil && n != 3 {
					return fmt.Errorf("count = %d", n)
				}
				return err
			},
		},
		{
			name: "processes by container", fixture: "processes-grouped-container.json",
			path: "/v1/processes/deployment/" + fixtureDeployment + "/grouped/container",
			call: func(c *Client) error {
				gs, err := c.ProcessesByContainer(ctx, fixtureDeployment)
				if err != nil {
					return err
				}
				if len(gs) != 3 || gs[1].Name != "/usr/bin/nc" || gs[1].ContainerName != "kserve-container" ||
					gs[1].Groups[0].Signals[0].Signal.Time == nil || gs[1].Groups[0].Args == "" {
					return fmt.Errorf("groups not decoded: %+v", gs)
				}
				return nil
			},
		},
		{
			name: "cluster health", fixture: "cluster-health-healthy.json", path: "/v1/clusters/" + fixtureCluster,
			call: func(c *Client) error {
				cl, err := c.GetCluster(ctx, fixtureCluster)
				if err == nil && (cl.HealthStatus == nil || cl.HealthStatus.SensorHealthStatus != HealthHealthy ||
					cl.HealthStatus.CollectorHealthStatus != HealthHealthy || cl.HealthStatus.LastContact == nil) {
					return fmt.Errorf("cluster not decoded: %+v", cl)
				}
				return err
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSeqServer(t, jsonReply(200, fixture(t, tc.fixture)))
			if err := tc.call(newTestClient(t, srv.URL)); err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()
			if len(reqs) != 1 || reqs[0].method != "GET" || reqs[0].path != tc.path || reqs[0].auth != "Bearer "+testToken {
				t.Fatalf("requests: %+v", reqs)
			}
			got, err := url.ParseQuery(reqs[0].query)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.query) && (len(got) > 0 || len(tc.query) > 0) {
				t.Errorf("query = %v, want %v", got, tc.query)
			}
			if strings.Contains(reqs[0].query, "+Violation") {
				t.Errorf("a raw + reaches Central as a space: %s", reqs[0].query)
			}
		})
	}
}

// Values a caller passes become a path or a query term: anything that is
// not a UUID, and an alert query without states, is refused before a
// request is made.
func TestRuntimeCallsRefuseBadInput(t *testing.T) {
	srv := newSeqServer(t, jsonReply(200, []byte(`{}`)))
	c := newTestClient(t, srv.URL)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"path escape":     func() error { _, err := c.GetDeployment(ctx, "../alerts"); return err },
		"query injection": func() error { _, err := c.ProcessCount(ctx, fixtureDeployment+"+Namespace:x"); return err },
		"empty alert id":  func() error { _, err := c.GetAlert(ctx, ""); return err },
		"cluster name":    func() error { _, err := c.GetCluster(ctx, "prod-east"); return err },
		"no states": func() error {
			_, err := c.ListAlerts(ctx, AlertQuery{DeploymentID: fixtureDeployment})
			return err
		},
		"misspelt state": func() error {
			_, err := c.ListAlerts(ctx, AlertQuery{DeploymentID: fixtureDeployment, States: []AlertState{"ACTIV"}})
			return err
		},
		"name for id": func() error {
			_, err := c.ListAlerts(ctx, AlertQuery{DeploymentID: "granite-predictor", States: AllAlertStates})
			return err
		},
		"processes": func() error { _, err := c.ProcessesByContainer(ctx, "x/../../y"); return err },
	} {
		if err := call(); !IsInvalidArgument(err) {
			t.Errorf("%s: err = %v, want invalid argument", name, err)
		}
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests reached Central", n)
	}
}

// alertJSON is one ListAlert of about 400 bytes.
func alertJSON(id int, deployment string) string {
	return fmt.Sprintf(`{"id":"00000000-0000-4000-8000-%012d","lifecycleStage":"RUNTIME","time":"2026-11-25T12:00:00Z",`+
		`"policy":{"id":"p","name":"policy-%d","severity":"LOW_SEVERITY","description":"","categories":[]},"state":"ACTIVE",`+
		`"enforcementCount":0,"enforcementAction":"UNSET_ENFORCEMENT","commonEntityInfo":null,`+
		`"deployment":{"id":%q,"name":"d","inactive":false,"deploymentType":"Deployment"}}`, id, id, deployment)
}

// pagedAlerts serves total alerts in pages as Central does (limit and
// offset from the query), and counts the pages asked for.
func pagedAlerts(t *testing.T, total int, pages *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages.Add(1)
		limit, _ := strconv.Atoi(r.URL.Query().Get("pagination.limit"))
		offset, _ := strconv.Atoi(r.URL.Query().Get("pagination.offset"))
		var items []string
		for i := offset; i < min(offset+limit, total); i++ {
			items = append(items, alertJSON(i, fixtureDeployment))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"alerts":[%s]}`, strings.Join(items, ","))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestListAlertsPagesUpToTheLimit(t *testing.T) {
	ctx := context.Background()
	q := AlertQuery{DeploymentID: fixtureDeployment, States: AllAlertStates}
	var pages atomic.Int32
	as, err := newTestClient(t, pagedAlerts(t, 600, &pages).URL).ListAlerts(ctx, q)
	if err != nil || len(as) != 600 || pages.Load() != 3 {
		t.Fatalf("600 alerts: got %d in %d pages, err %v", len(as), pages.Load(), err)
	}
	// Exactly a full last page: one more (empty) page ends the list.
	pages.Store(0)
	if as, err := newTestClient(t, pagedAlerts(t, 500, &pages).URL).ListAlerts(ctx, q); err != nil || len(as) != 500 || pages.Load() != 3 {
		t.Fatalf("500 alerts: got %d in %d pages, err %v", len(as), pages.Load(), err)
	}
	// A deployment with more alerts than the client keeps is an error, not
	// a truncated (and perhaps clean-looking) list.
	_, err = newTestClient(t, pagedAlerts(t, MaxAlerts+1, &pages).URL).ListAlerts(ctx, q)
	if !errors.Is(err, ErrLimit) || IsRetryable(err) || !strings.Contains(err.Error(), "more than 1000 alerts") {
		t.Fatalf("past MaxAlerts: %v", err)
	}
}

// A peer that ignores the page size, sends too many process indicators,
// or an endless body, gets a clear error; what is kept of long strings is
// cut.
func TestRuntimeAnswersAreBounded(t *testing.T) {
	ctx := context.Background()
	many := make([]string, alertPageSize+1)
	for i := range many {
		many[i] = alertJSON(i, fixtureDeployment)
	}
	srv := newSeqServer(t, jsonReply(200, []byte(`{"alerts":[`+strings.Join(many, ",")+`]}`)))
	_, err := newTestClient(t, srv.URL).ListAlerts(ctx, AlertQuery{DeploymentID: fixtureDeployment, States: AllAlertStates})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "more than 250 alerts") {
		t.Errorf("a page past its limit: %v", err)
	}

	signal := `{"containerName":"c","podId":"p","signal":{"execFilePath":"/bin/x","time":"2026-11-25T12:00:00Z"}}`
	signals := strings.TrimSuffix(strings.Repeat(signal+",", MaxProcessSignals/2+1), ",")
	group := `{"name":"/bin/x","containerName":"c","timesExecuted":1,"groups":[{"args":"","signals":[` + signals + `]}],"suspicious":false}`
	srv = newSeqServer(t, jsonReply(200, []byte(`{"groups":[`+group+`,`+group+`]}`)))
	_, err = newTestClient(t, srv.URL).ProcessesByContainer(ctx, fixtureDeployment)
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "process indicators") {
		t.Errorf("too many signals: %v", err)
	}

	long := strings.Repeat("é", 4096)
	srv = newSeqServer(t, jsonReply(200, []byte(`{"groups":[{"name":"/bin/`+long+`","containerName":"c","groups":[{"args":"`+long+`","signals":[]}]}]}`)))
	gs, err := newTestClient(t, srv.URL).ProcessesByContainer(ctx, fixtureDeployment)
	if err != nil || len(gs[0].Name) > MaxText+len("…") || len(gs[0].Groups[0].Args) > MaxText+len("…") || !strings.HasSuffix(gs[0].Name, "é…") {
		t.Errorf("long strings: err %v, kept %d and %d bytes", err, len(gs[0].Name), len(gs[0].Groups[0].Args))
	}

	// An endless deployment: cut at its call's limit, far below 64 MiB.
	var sent atomic.Int64
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		n, _ := fmt.Fprint(w, `{"id":"`+fixtureDeployment+`","labels":{`)
		sent.Add(int64(n))
		for i := 0; r.Context().Err() == nil && sent.Load() < 64<<20; i++ {
			n, err := fmt.Fprintf(w, `"k%d":"%s",`, i, strings.Repeat("v", 1000))
			if err != nil {
				return
			}
			sent.Add(int64(n))
		}
	}))
	defer endless.Close()
	_, err = newTestClient(t, endless.URL).GetDeployment(ctx, fixtureDeployment)
	if !errors.Is(err, ErrLimit) || IsRetryable(err) || sent.Load() >= 32<<20 {
		t.Errorf("endless body: %v after %d bytes", err, sent.Load())
	}
}

// A role without Alert read gets 403, and the error says which permission
// is missing; a 404 for a deployment is NotFound (not yet seen, or out of
// the token's scope).
func TestRuntimeErrors(t *testing.T) {
	ctx := context.Background()
	srv := newSeqServer(t, jsonReply(403, fixture(t, "error-403-alert-access-denied.json")))
	_, err := newTestClient(t, srv.URL).ListAlerts(ctx, AlertQuery{DeploymentID: fixtureDeployment, States: AllAlertStates})
	if !IsPermissionDenied(err) || !strings.Contains(err.Error(), "Alert read") || len(srv.requests()) != 1 {
		t.Errorf("403: %v after %d requests", err, len(srv.requests()))
	}
	assertNoToken(t, "403 error", err.Error())

	srv = newSeqServer(t, jsonReply(404, fixture(t, "error-404-deployment-not-found.json")))
	if _, err := newTestClient(t, srv.URL).GetDeployment(ctx, fixtureDeployment); !IsNotFound(err) || IsRetryable(err) {
		t.Errorf("404: %v", err)
	}

	// Central's rate limiter and a restarting Central: retried.
	srv = newSeqServer(t, reply{status: 429, ctype: "text/plain", body: "rejected by rate limiter"},
		jsonReply(503, []byte(`{"code":14,"message":"unavailable"}`)), jsonReply(200, fixture(t, "processcount.json")))
	if n, err := newTestClient(t, srv.URL).ProcessCount(ctx, fixtureDeployment); err != nil || n != 3 || len(srv.requests()) != 3 {
		t.Errorf("429, 503, 200: n=%d err=%v after %d requests", n, err, len(srv.requests()))
	}
}
