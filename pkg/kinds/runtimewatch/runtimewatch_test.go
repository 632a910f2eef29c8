package runtimewatch

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
	_, err = k.Plan(kinds.Request{Namespace: "ml-pipelines", Name: "run", Params: vals})
	return err
}

func TestPlanNamesBadParams(t *testing.T) {
	for _, good := range []string{
		`[{"name":"deployment","value":"granite-predictor"}]`,
		`[{"name":"inferenceservice","value":"granite"},{"name":"namespace","value":"fraud-prod"},{"name":"window","value":"10m"},
		  {"name":"on-fail","value":"scale-to-zero"},{"name":"allow-processes","value":[]},{"name":"accept-inconclusive","value":["NoProcessesSeen"]}]`,
	} {
		if err := plan(t, good); err != nil {
			t.Errorf("good params refused: %v", err)
		}
	}
	err := plan(t, `[{"name":"deployment","value":"a"},{"name":"inferenceservice","value":"b"},{"name":"window","value":"soon"},
		{"name":"severity","value":"SEVERE"},{"name":"on-fail","value":"delete"},{"name":"include-deploy","value":"maybe"},
		{"name":"allow-processes","value":["server:sh"]}]`)
	for _, want := range []string{`param "include-deploy"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	err = plan(t, `[{"name":"deployment","value":"a"},{"name":"window","value":"soon"},{"name":"severity","value":"SEVERE"},
		{"name":"on-fail","value":"delete"},{"name":"allow-processes","value":["server:sh"]},{"name":"accept-inconclusive","value":["Meh"]}]`)
	for _, want := range []string{`param "window": "soon"`, `param "severity"`, `param "on-fail": "delete"`, `param "allow-processes": "server:sh"`, `param "accept-inconclusive": "Meh"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	for js, want := range map[string]string{
		`[{"name":"deployment","value":"a"},{"name":"inferenceservice","value":"b"}]`: `param "deployment": name exactly one`,
		`[{"name":"window","value":"1m"}]`:                                            `param "deployment": name exactly one`,
		`[{"name":"inferenceservice","value":"Bad_Name"}]`:                            `param "inferenceservice": "Bad_Name"`,
		`[{"name":"deployment","value":"a"},{"name":"namespace","value":"../x"}]`:     `param "namespace"`,
	} {
		if err := plan(t, js); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", js, err, want)
		}
	}
}
