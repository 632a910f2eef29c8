package attest

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzStatements feeds what a registry (anyone who can push .att layers)
// may serve to the readers VerifyImage trusts after the signature check,
// and what a user may give as a TrustPolicy: none may panic, and a
// statement that does not parse matches nothing.
func FuzzStatements(f *testing.F) {
	f.Add([]byte(`{"buildDefinition":{"externalParameters":{"runSpec":{"taskRef":{"name":"model-image-build","resolver":"bundles","params":[{"name":"name","value":"x"}]}}},"resolvedDependencies":[{"uri":"git+https://x.git","digest":{"sha1":"ab"}}]},"runDetails":{"builder":{"id":"b"},"metadata":{"invocationID":"u"},"byproducts":[{"mediaType":"application/vnd.modelguard.run.v1+json","annotations":{"kind":"TaskRun","uid":"u"}}]}}`))
	f.Add([]byte(`{"scanner":{"result":{"verdict":"pass"}},"metadata":{"scanFinishedOn":"2026-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"payload":"eyJwcmVkaWNhdGVUeXBlIjoieCJ9"}`))
	if b, err := os.ReadFile("testdata/trust/models.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		raw := json.RawMessage(b)
		bp := parseBuildProvenance(raw)
		for _, s := range bp.Sources {
			_ = sameRepository(s.URI, "https://github.com/acme/models")
		}
		pp := parsePipelineProvenance(raw)
		for _, r := range pp.Runs {
			_ = r.is("scan")
		}
		_, _ = parseScan(raw)
		_ = builderOf(b)
		_, _ = envelopePayload(b)
		if tr, err := ParseTrustPolicy(b, "testdata/trust", os.ReadFile); err == nil {
			if _, err := tr.Render("all"); err != nil {
				t.Errorf("a policy that parsed does not render: %v", err)
			}
		}
	})
}
