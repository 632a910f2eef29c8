package imagescan

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

func plan(t *testing.T, js string) error {
	t.Helper()
	var ps []v1beta1.Param
	if err := json.Unmarshal([]byte(js), &ps); err != nil {
		t.Fatal(err)
	}
	k := &Kind{}
	vals, err := kinds.Check(k.Params(), ps)
	if err != nil {
		return err
	}
	_, err = k.Plan(kinds.Request{Namespace: "ns", Name: "run", Params: vals})
	return err
}

func TestPlanNamesBadParams(t *testing.T) {
	if err := plan(t, `[{"name":"image","value":"quay.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]`); err != nil {
		t.Fatalf("good params refused: %v", err)
	}
	err := plan(t, `[{"name":"image","value":"quay.io/a/b:latest"},{"name":"severity","value":"SEVERE"},
		{"name":"fixable-only","value":"yes"},{"name":"allow","value":["CVE-2024-1,2026-01-01,r","log4shell,2026-01-01,r"]}]`)
	if err == nil {
		t.Fatal("bad params accepted")
	}
	for _, want := range []string{`param "image": "quay.io/a/b:latest" has no digest`, `param "severity"`, `param "fixable-only"`, `param "allow": "log4shell"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if err := plan(t, `[{"name":"image","value":"quay.io/a/b:latest"},{"name":"allow-tag","value":"true"}]`); err != nil {
		t.Fatalf("allow-tag: %v", err)
	}
}
