package imagecheck

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

func TestPlanRefusesTagsAndBadFlags(t *testing.T) {
	k := &Kind{}
	for js, want := range map[string]string{
		`[{"name":"image","value":"quay.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},{"name":"categories","value":["Vulnerability Management"]}]`: "",
		`[{"name":"image","value":"quay.io/a/b:1.0"}]`:                                      `param "image": "quay.io/a/b:1.0" has no digest`,
		`[{"name":"image","value":"quay.io/a/b:1.0"},{"name":"allow-tag","value":"maybe"}]`: `param "allow-tag"`,
	} {
		var ps []v1beta1.Param
		if err := json.Unmarshal([]byte(js), &ps); err != nil {
			t.Fatal(err)
		}
		vals, err := kinds.Check(k.Params(), ps)
		if err == nil {
			_, err = k.Plan(kinds.Request{Namespace: "ns", Params: vals})
		}
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", js, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v; want %q", js, err, want)
		}
	}
}
