package builtinplans_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
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

// The scratch plan's always_run tasks are the two checks on the first master and the
// certificate report on every host, as the integration tests (alwaysRunTasks) and
// docs/scratch.md say: a re-run finds every other node up to date.
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
	if want := "cert_expiry[cp1] cert_expiry[cp2] cert_expiry[w1] bootstrap[cp1] kubelet_serving[cp1]"; strings.Join(got, " ") != want {
		t.Errorf("always_run nodes: %v, want %s", got, want)
	}
}

// version-skew.sh, run by sh against a fake installed binary: the next minor version and
// patch releases go on; a skipped minor version, a minor downgrade, another major version are
// refused with a message that says why and what to do.
func TestVersionSkewCheck(t *testing.T) {
	script, err := os.ReadFile("scratch/templates/version-skew.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kube-apiserver")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'Kubernetes v1.35.2'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		binary, newVersion string
		ok                 bool
		says               string
	}{
		{bin, "v1.35.2", true, "allowed"},
		{bin, "v1.35.7", true, "allowed"},
		{bin, "v1.35.0", true, "allowed"},
		{bin, "v1.36.3", true, "v1.35.2 -> v1.36.3: allowed"},
		{bin, "v1.37.0", false, "skips a minor version: " + bin + " is v1.35.2. The version-skew policy allows one minor version at a time: upgrade to v1.36.x first."},
		{bin, "v1.34.9", false, "older minor version"},
		{bin, "v2.0.0", false, "another major version"},
		{filepath.Join(dir, "absent"), "v1.36.3", true, "a first install"},
	} {
		cmd := exec.Command("sh", "-s")
		cmd.Stdin = strings.NewReader("NEW='" + c.newVersion + "'\nBINARY='" + c.binary + "'\n" + string(script))
		out, err := cmd.CombinedOutput()
		if (err == nil) != c.ok || !strings.Contains(string(out), c.says) {
			t.Errorf("%s to %s: err %v, output %q; want ok %v saying %q", c.binary, c.newVersion, err, out, c.ok, c.says)
		}
	}
}
