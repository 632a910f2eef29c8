package verifyimage

import (
	"strings"
	"testing"

	"github.com/modelguard/modelguard/pkg/kinds"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

const pub = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEi3f0kmtRgJbBQYmSh9r9ZVzyD7gl\nJjltTjzz1S5VfDr62j8sXp67Wg4xpOowpIOFai0bjLXvywg3ObuIapxLZA==\n-----END PUBLIC KEY-----\n"

func plan(t *testing.T, params map[string]string) error {
	t.Helper()
	var ps []v1beta1.Param
	for k, v := range params {
		ps = append(ps, v1beta1.Param{Name: k, Value: *v1beta1.NewStructuredValues(v)})
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
	good := map[string]string{"image": "quay.io/a/b:1@sha256:" + strings.Repeat("a", 64), "public-key": pub, "max-scan-age": "7d", "wait": "0s"}
	if err := plan(t, good); err != nil {
		t.Fatalf("good params refused: %v", err)
	}
	err := plan(t, map[string]string{"image": "quay.io/a/b:latest", "public-key": "not a key", "attestor-key": "nor this",
		"max-scan-age": "forever", "wait": "2h"})
	if err == nil {
		t.Fatal("bad params accepted")
	}
	for _, want := range []string{`param "image"`, `param "public-key"`, `param "attestor-key"`, `param "max-scan-age"`, `param "wait"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// No key: the run reads the namespace's chains-public-key Secret (e2e:
	// TestGateAttestations), so planning does not refuse it.
	if err := plan(t, map[string]string{"image": good["image"]}); err != nil {
		t.Errorf("no key: %v", err)
	}
}
