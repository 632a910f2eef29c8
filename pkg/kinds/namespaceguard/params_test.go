package namespaceguard

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/guard"
	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

func values(t *testing.T, js string) kinds.Values {
	t.Helper()
	var ps []v1beta1.Param
	if err := json.Unmarshal([]byte(js), &ps); err != nil {
		t.Fatal(err)
	}
	v, err := kinds.Check((&Kind{}).Params(), ps)
	if err != nil {
		t.Fatalf("params refused by the declaration: %v", err)
	}
	return v
}

func TestSpecFromParams(t *testing.T) {
	spec, mode, err := SpecFromParams(values(t, `[
		{"name":"namespace","value":"fraud-prod"},
		{"name":"profile","value":"prod"},
		{"name":"operator-groups","value":["ops"]},
		{"name":"ml-engineer-users","value":["jane"]},
		{"name":"ingress","value":["openshift-router","namespace:gw"]},
		{"name":"egress","value":["10.0.0.0/8:443"]},
		{"name":"quota","value":{"gpu":"4"}},
		{"name":"mode","value":"verify"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if mode != guard.ModeVerify || spec.Profile != guard.Prod || spec.Subjects[guard.Operator].Groups[0] != "ops" ||
		spec.Subjects[guard.MLEngineer].Users[0] != "jane" || len(spec.Ingress) != 2 || spec.Egress[0].Port != 443 || spec.Quota["gpu"] != "4" {
		t.Fatalf("spec = %+v, mode %s", spec, mode)
	}
}

func TestSpecFromParamsNamesEveryBadParam(t *testing.T) {
	_, _, err := SpecFromParams(values(t, `[
		{"name":"namespace","value":"UPPER"},
		{"name":"profile","value":"qa"},
		{"name":"data-scientist-groups","value":["system:authenticated"]},
		{"name":"operator-users","value":["system:anonymous"]},
		{"name":"ingress","value":["everywhere"]},
		{"name":"egress","value":["10.0.0.0/8:99999"]},
		{"name":"quota","value":{"gpu":"many"}},
		{"name":"limits","value":{"max-tpu":"1"}},
		{"name":"pod-security","value":"lax"},
		{"name":"mode","value":"yolo"}]`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`param "namespace"`, `param "profile"`, `param "data-scientist-groups"`, `param "operator-users"`,
		`param "ingress"`, `param "egress"`, `param "quota": key "gpu"`, `param "limits": key "max-tpu"`, `param "pod-security"`, `param "mode"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}
