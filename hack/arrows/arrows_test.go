package arrows

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"sort"
	"testing"
)

// TestArrows checks the module's real import graph.
func TestArrows(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", Module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	g := Graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath    string
			Imports, Deps []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		g[p.ImportPath] = Package{Imports: p.Imports, Deps: p.Deps}
	}
	if len(g[Module+"/pkg/cli"].Deps) == 0 || len(g[Module+"/pkg/gate"].Deps) == 0 {
		t.Fatalf("go list gave no graph for pkg/cli or pkg/gate: %d packages", len(g))
	}
	vs := Check(g)
	sort.Slice(vs, func(i, j int) bool { return vs[i].From+vs[i].To < vs[j].From+vs[j].To })
	for _, v := range vs {
		t.Errorf("%s depends on %s: %s", v.From, v.To, v.Rule.Why)
	}
}

// TestCheckCatchesBadArrows: the checker fails on each arrow the rules
// forbid, so TestArrows passing means something.
func TestCheckCatchesBadArrows(t *testing.T) {
	m := Module + "/"
	for _, bad := range [][2]string{
		{m + "pkg/gate", m + "pkg/kinds"},
		{m + "pkg/guard", m + "pkg/reconciler/customrun"},
		{m + "pkg/modelcar", m + "pkg/cli"},
		{m + "pkg/attest", "github.com/tektoncd/pipeline/pkg/reconciler/taskrun"},
		{m + "pkg/acs", m + "pkg/gate"},
		{m + "pkg/cli", m + "pkg/kinds/imagescan"},
		{m + "pkg/kinds/all", m + "pkg/cli"},
		{m + "pkg/results", m + "test/localcluster"},
		{m + "cmd/controller", m + "test/acsemulator"},
		{m + "pkg/attest", "github.com/sigstore/cosign/v2/pkg/signature"},
		{m + "cmd/modelguard", "github.com/sigstore/sigstore/pkg/signature/kms/aws"},
	} {
		if vs := Check(Graph{bad[0]: {Imports: bad[1:], Deps: bad[1:]}}); len(vs) == 0 {
			t.Errorf("%s → %s is not caught", bad[0], bad[1])
		}
	}
	for _, good := range [][2]string{
		{m + "pkg/kinds/imagescan", m + "pkg/gate"},
		{m + "pkg/cli", m + "pkg/gate"},
		{m + "pkg/gate", m + "pkg/acs"},
		{m + "test/e2e", m + "pkg/kinds"},
		{m + "pkg/reconciler/customrun", m + "pkg/kinds"},
	} {
		if vs := Check(Graph{good[0]: {Imports: good[1:], Deps: good[1:]}}); len(vs) > 0 {
			t.Errorf("%s → %s is refused: %s", good[0], good[1], vs[0].Rule.Why)
		}
	}
}
