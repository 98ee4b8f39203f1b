package builtinplans_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	builtinplans "github.com/plan-dev/plan/builtin-plans"
	"github.com/plan-dev/plan/dsl"
)

// Each built-in plan is self-contained (plan init writes one plan out), so the scripts that
// two plans share are copies: they must stay the same.
func TestSharedScriptsAreTheSame(t *testing.T) {
	for _, pair := range [][2]string{
		{"scratch-reset/templates/reset.sh", "scratch-remove/templates/reset.sh"},
		{"scratch/templates/wait.sh", "scratch-restore/templates/wait.sh"},
	} {
		a, err := os.ReadFile(pair[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(pair[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: copy it over", pair[1], pair[0])
		}
	}
}

// The scratch plan's always_run tasks are the two checks on the first master, as the
// integration tests (alwaysRunTasks) and docs/scratch.md say: a re-run finds every other node
// up to date.
func TestScratchAlwaysRunTasks(t *testing.T) {
	p, diags := dsl.Load([]string{"scratch"}, dsl.Options{FS: builtinplans.FS(), Hosts: []string{"masters=cp1,cp2", "workers=w1"}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var got []string
	for _, n := range p.Nodes() {
		if n.AlwaysRun {
			got = append(got, n.ID)
		}
	}
	if want := "bootstrap[cp1] kubelet_serving[cp1]"; strings.Join(got, " ") != want {
		t.Errorf("always_run nodes: %v, want %s", got, want)
	}
}
