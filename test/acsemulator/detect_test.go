package acsemulator

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

func detectBuild(t *testing.T, s *Server, body map[string]any) response {
	t.Helper()
	return call(t, s, "POST", "/v1/detect/build", testToken, body)
}

// alertSummary reduces alerts to policy name → enforcement actions and
// violation messages, which is what roxctl-style gating reads.
func alertSummary(t *testing.T, v any) map[string][2]any {
	t.Helper()
	out := map[string][2]any{}
	for _, a := range dig(t, v, "alerts").([]any) {
		var msgs []string
		for _, vi := range dig(t, a, "violations").([]any) {
			msgs = append(msgs, dig(t, vi, "message").(string))
		}
		out[dig(t, a, "policy", "name").(string)] = [2]any{dig(t, a, "policy", "enforcementActions"), strings.Join(msgs, "\n")}
	}
	return out
}

func TestDetectBuildFailBuildMatchesFixture(t *testing.T) {
	s := startExample(t)
	r := detectBuild(t, s, map[string]any{"imageName": "quay.io/acme-ml/llm-gateway:0.9.2"})
	if r.status != 200 {
		t.Fatalf("detect = %d %s", r.status, r.raw)
	}
	got, want := r.json(t), fixture(t, "detect-build-fail-build-violation.json")
	assertShape(t, "detect-build-fail-build-violation.json", got)
	if g, w := alertSummary(t, got), alertSummary(t, want); !reflect.DeepEqual(g, w) {
		t.Errorf("alerts = %v\nfixture has %v", g, w)
	}
	a := dig(t, got, "alerts", 0)
	for _, key := range []string{"lifecycleStage", "enforcement", "state", "entityType", "image"} {
		if key == "image" {
			if g, w := dig(t, a, "image", "name"), dig(t, want, "alerts", 0, "image", "name"); !reflect.DeepEqual(g, w) {
				t.Errorf("image.name = %v, fixture has %v", g, w)
			}
			continue
		}
		if g, w := dig(t, a, key), dig(t, want, "alerts", 0, key); !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %v, fixture has %v", key, g, w)
		}
	}
	// Alert ids are fresh per call; policy ids are stable.
	again := detectBuild(t, s, map[string]any{"imageName": "quay.io/acme-ml/llm-gateway:0.9.2"}).json(t)
	if dig(t, again, "alerts", 0, "id") == dig(t, a, "id") || dig(t, again, "alerts", 0, "policy", "id") != dig(t, a, "policy", "id") {
		t.Error("alert ids should change per call and policy ids should not")
	}
}

func TestDetectBuildClean(t *testing.T) {
	s := startExample(t)
	r := detectBuild(t, s, map[string]any{"imageName": cleanImageName})
	if r.status != 200 || !reflect.DeepEqual(r.json(t), fixture(t, "detect-build-clean.json")) {
		t.Fatalf("detect = %d %s", r.status, r.raw)
	}
}

// The trap: Central's DetectBuildTime does not require scan data, so an
// image it cannot scan passes every CVE policy.
func TestDetectBuildWithoutScanDataPassesSilently(t *testing.T) {
	s := startExample(t)
	if r := scan(t, s, "quay.io/acme-ml/private-model:2.0.0", false); r.status != 500 {
		t.Fatalf("scan = %d, want 500", r.status)
	}
	r := detectBuild(t, s, map[string]any{"imageName": "quay.io/acme-ml/private-model:2.0.0"})
	if r.status != 200 || !reflect.DeepEqual(r.json(t), fixture(t, "detect-build-clean.json")) {
		t.Fatalf("detect = %d %s", r.status, r.raw)
	}
	// An image Central has never seen is no different.
	r = detectBuild(t, s, map[string]any{"imageName": "quay.io/acme-ml/never-heard-of:1"})
	if r.status != 200 || len(alertSummary(t, r.json(t))) != 0 {
		t.Fatalf("detect unknown = %d %s", r.status, r.raw)
	}
}

func TestDetectBuildOtherPolicies(t *testing.T) {
	s := startExample(t)
	got := alertSummary(t, detectBuild(t, s, map[string]any{"imageName": "quay.io/acme-ml/legacy-indexer:5.2.0"}).json(t))
	if a, ok := got["Banned component: log4j 1.x"]; !ok || !reflect.DeepEqual(a[0], []any{"FAIL_BUILD_ENFORCEMENT"}) ||
		a[1] != "Image contains component 'log4j' (version 1.2.17)" {
		t.Errorf("log4j policy: %v", got)
	}
	if a, ok := got["Unfixable Critical CVE"]; !ok || !reflect.DeepEqual(a[0], []any{}) ||
		!strings.HasPrefix(a[1].(string), "CVE-2019-17571 (CVSS 9.8") {
		t.Errorf("unfixable critical policy: %v", got)
	}
	got = alertSummary(t, detectBuild(t, s, map[string]any{"imageName": "quay.io/acme-ml/notebook"}).json(t))
	if _, ok := got["Latest tag"]; !ok || len(got) != 1 {
		t.Errorf("latest tag: %v", got)
	}
	// The low/moderate image fails nothing.
	if got := alertSummary(t, detectBuild(t, s, map[string]any{"imageName": "quay.io/acme-ml/tokenizer:0.4.1"}).json(t)); len(got) != 0 {
		t.Errorf("tokenizer: %v", got)
	}
}

func TestDetectBuildRequestVariants(t *testing.T) {
	s := startExample(t)
	// roxctl sends the parsed image instead of imageName.
	r := detectBuild(t, s, map[string]any{"image": map[string]any{
		"name": map[string]any{"registry": "quay.io", "remote": "acme-ml/llm-gateway", "tag": "0.9.2"}}})
	if got := alertSummary(t, r.json(t)); len(got) != 2 {
		t.Errorf("image variant: %d %s", r.status, r.raw)
	}
	r = detectBuild(t, s, map[string]any{"imageName": "quay.io/acme-ml/llm-gateway:0.9.2", "policyCategories": []string{"docker cis"}})
	if got := alertSummary(t, r.json(t)); len(got) != 1 {
		t.Errorf("category filter: %v", got)
	}
	r = detectBuild(t, s, map[string]any{"imageName": "quay.io/acme-ml/llm-gateway:0.9.2", "policyCategories": []string{"Nope"}})
	if r.status != 500 || r.obj(t)["message"] != `allowed categories ["Nope"] did not match any policy categories` {
		t.Errorf("unknown category = %d %s", r.status, r.raw)
	}
	for _, body := range []map[string]any{{}, {"imageName": "quay.io/a/B"}, {"imageName": "quay.io/a/b", "force": true, "noExternalMetadata": true}} {
		if r := detectBuild(t, s, body); r.status != 400 || r.obj(t)["code"] != 3.0 {
			t.Errorf("detect %v = %d %s", body, r.status, r.raw)
		}
	}
}

const fixtureDeployYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: sentiment-serving
  namespace: ml-serving
  labels: {app: sentiment-serving}
spec:
  template:
    metadata:
      labels: {app: sentiment-serving}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 1001}
      containers:
        - name: server
          image: quay.io/acme-ml/sentiment-serving:1.4.0@` + cleanDigest + `
          securityContext: {privileged: true}
          resources: {limits: {cpu: "2", memory: 4Gi}}
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: sentiment-serving, namespace: ml-serving}
---
# Network policies are not runs, but the remarks list the ones that apply.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-all, namespace: ml-serving}
spec: {podSelector: {}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-from-gateway, namespace: ml-serving}
spec: {podSelector: {matchLabels: {app: sentiment-serving}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-other, namespace: ml-serving}
spec: {podSelector: {matchLabels: {app: other}}}
`

func detectDeploy(t *testing.T, s *Server, body map[string]any) response {
	t.Helper()
	return call(t, s, "POST", "/v1/detect/deploy/yaml", testToken, body)
}

func TestDetectDeployYAMLMatchesFixture(t *testing.T) {
	s := startExample(t)
	r := detectDeploy(t, s, map[string]any{"yaml": fixtureDeployYAML, "cluster": "prod"})
	if r.status != 200 {
		t.Fatalf("detect = %d %s", r.status, r.raw)
	}
	got, want := r.json(t), fixture(t, "detect-deploy-yaml-violation.json")
	assertShape(t, "detect-deploy-yaml-violation.json", got)
	for _, path := range [][]any{
		{"ignoredObjectRefs"}, {"runs", 0, "name"}, {"runs", 0, "type"},
		{"runs", 0, "alerts", 0, "enforcement"}, {"runs", 0, "alerts", 0, "violations"},
		{"runs", 0, "alerts", 0, "policy", "enforcementActions"}, {"runs", 0, "alerts", 0, "lifecycleStage"},
		{"runs", 0, "alerts", 0, "deployment", "namespace"}, {"runs", 0, "alerts", 0, "deployment", "containers"},
	} {
		if g, w := dig(t, got, path...), dig(t, want, path...); !reflect.DeepEqual(g, w) {
			t.Errorf("%v = %v\nfixture has %v", path, g, w)
		}
	}
	if n := len(dig(t, got, "runs", 0, "alerts").([]any)); n != 1 {
		t.Errorf("%d alerts, want only the privileged one", n)
	}
	var applied []string
	for _, n := range dig(t, got, "remarks", 0, "appliedNetworkPolicies").([]any) {
		applied = append(applied, n.(string))
	}
	if want := []string{"allow-from-gateway", "default-deny-all"}; !reflect.DeepEqual(applied, want) {
		t.Errorf("applied network policies = %v, want %v", applied, want)
	}
	// Without a cluster there is nothing to read remarks from.
	r = detectDeploy(t, s, map[string]any{"yaml": fixtureDeployYAML})
	if remarks := dig(t, r.json(t), "remarks"); !reflect.DeepEqual(remarks, []any{}) {
		t.Errorf("remarks without cluster = %v", remarks)
	}
}

const riskyDeployYAML = `apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly-eval}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - {name: eval, image: quay.io/acme-ml/notebook, securityContext: {runAsUser: 0}}
            - name: sidecar
              image: quay.io/acme-ml/sentiment-serving:1.4.0
              securityContext: {runAsUser: 1001}
              resources: {limits: {cpu: 100m, memory: 64Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: scratch}
spec:
  containers:
    - name: shell
      image: quay.io/acme-ml/llm-gateway:0.9.2
      securityContext: {runAsNonRoot: true}
      resources: {limits: {cpu: "1", memory: 1Gi}}
`

func TestDetectDeployRules(t *testing.T) {
	s := startExample(t)
	r := detectDeploy(t, s, map[string]any{"yaml": riskyDeployYAML})
	runs := dig(t, r.json(t), "runs").([]any)
	if len(runs) != 2 || dig(t, runs[0], "type") != "CronJob" || dig(t, runs[1], "type") != "Pod" {
		t.Fatalf("runs = %s", r.raw)
	}
	policies := func(run any) []string {
		var names []string
		for _, a := range dig(t, run, "alerts").([]any) {
			names = append(names, dig(t, a, "policy", "name").(string))
		}
		sort.Strings(names)
		return names
	}
	want := []string{"Container may run as root", "Deployment uses latest tag", "No resource limits specified"}
	if got := policies(runs[0]); !reflect.DeepEqual(got, want) {
		t.Errorf("cronjob alerts = %v, want %v", got, want)
	}
	if got := policies(runs[1]); len(got) != 0 {
		t.Errorf("pod alerts = %v, want none", got)
	}
	if ns := dig(t, runs[0], "alerts", 0, "deployment", "namespace"); ns != "default" {
		t.Errorf("namespace = %v", ns)
	}
	// enforcementOnly keeps only policies Central enforces at deploy time.
	r = detectDeploy(t, s, map[string]any{"yaml": riskyDeployYAML, "enforcementOnly": true})
	if got := policies(dig(t, r.json(t), "runs", 0)); !reflect.DeepEqual(got, []string{"Deployment uses latest tag"}) {
		t.Errorf("enforcementOnly alerts = %v", got)
	}
	for _, body := range []map[string]any{{"yaml": ""}, {"yaml": "kind: [unclosed"}, {"yaml": "metadata: {name: x}"},
		{"yaml": riskyDeployYAML, "policyCategories": []string{"Nope"}}} {
		if r := detectDeploy(t, s, body); r.status != 400 || r.obj(t)["code"] != 3.0 {
			t.Errorf("detect %v = %d %s", body, r.status, r.raw)
		}
	}
}

// A deploy policy may use image rules; they see each container's image.
func TestDetectDeployImageRules(t *testing.T) {
	d := exampleData(t)
	fixable := true
	d.DeployPolicies = []Policy{{Name: "Fixable critical CVE", Severity: "HIGH",
		Enforcement: Actions{"SCALE_TO_ZERO_ENFORCEMENT"}, Match: Rule{CVESeverityAtLeast: "CRITICAL", Fixable: &fixable}}}
	s := Start(t, d, testToken)
	r := detectDeploy(t, s, map[string]any{"yaml": riskyDeployYAML})
	if n := len(dig(t, r.json(t), "runs", 0, "alerts").([]any)); n != 0 {
		t.Errorf("cronjob: %d alerts, want 0", n)
	}
	msgs := dig(t, r.json(t), "runs", 1, "alerts", 0, "violations").([]any)
	if len(msgs) != 2 || !strings.Contains(dig(t, msgs[0], "message").(string), "CVE-2024-5535") {
		t.Errorf("pod violations = %v", msgs)
	}
}
