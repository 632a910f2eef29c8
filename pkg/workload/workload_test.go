package workload

import (
	"errors"
	"testing"
)

// A pipeline passes model-deploy's DEPLOYMENT result (namespace/name) on
// to the watch; the namespace in it is the workload's, and a namespace
// param that says otherwise is refused, not overridden either way.
func TestResolve(t *testing.T) {
	for _, c := range []struct {
		in        Ref
		want      Ref
		wantField string
	}{
		{in: Ref{Deployment: "tiny"}, want: Ref{Namespace: "serving", Deployment: "tiny"}}, // the door's default
		{in: Ref{Deployment: "serving/tiny"}, want: Ref{Namespace: "serving", Deployment: "tiny"}},
		{in: Ref{Namespace: "serving", Deployment: "serving/tiny-predictor"}, want: Ref{Namespace: "serving", Deployment: "tiny-predictor"}},
		{in: Ref{Namespace: "pipelines", Deployment: "serving/tiny"}, wantField: "deployment"},
		{in: Ref{Deployment: "/tiny"}, wantField: "deployment"},
		{in: Ref{Deployment: "serving/a/b"}, wantField: "deployment"}, // Validate: not a Deployment name
		{in: Ref{Deployment: "Serving/tiny"}, wantField: "namespace"},
		{in: Ref{Namespace: "serving", InferenceService: "tiny"}, want: Ref{Namespace: "serving", InferenceService: "tiny"}},
	} {
		got, err := c.in.Resolve(func() (string, error) { return "serving", nil })
		var re *RefError
		switch {
		case c.wantField != "":
			if !errors.As(err, &re) || re.Field != c.wantField {
				t.Errorf("%+v: error %v, want one naming %s", c.in, err, c.wantField)
			}
		case err != nil:
			t.Errorf("%+v: %v", c.in, err)
		case got != c.want:
			t.Errorf("%+v: got %+v, want %+v", c.in, got, c.want)
		}
	}
}
