package builtinplans_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// The scratch plan's always_run tasks are install_id and the certificate report on every
// host and the three checks on the first master, as the integration tests (alwaysRunTasks)
// and docs/scratch.md say: a re-run finds every other node up to date.
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
	if want := "install_id[cp1] install_id[cp2] install_id[w1] cert_expiry[cp1] cert_expiry[cp2] cert_expiry[w1] bootstrap[cp1] node_upgrade_token[cp1] kubelet_serving[cp1]"; strings.Join(got, " ") != want {
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

// The node rollout (85-node-upgrade.hcl): batches from node_upgrade_serial (masters first, in
// the order of local.all_hosts) and node_upgrade_max_fail_percentage; the token is minted only
// after every master's control plane and every node's binaries, each node's rollout waits for
// it, the revocation waits for every node, and the checks wait for the revocation. The drain
// evicts (PodDisruptionBudgets hold), never deletes or forces, and the token's rights are
// only what the drain needs.
func TestScratchNodeUpgrade(t *testing.T) {
	p, diags := dsl.Load([]string{"scratch"}, dsl.Options{FS: builtinplans.FS(),
		Hosts: []string{"masters=cp1,cp2", "workers=w1,w2,w3"},
		Vars:  []string{"node_upgrade_serial=50%", "node_upgrade_max_fail_percentage=20"}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	deps := map[string]map[string]bool{}
	var rollout []*dsl.Node
	for _, n := range p.Nodes() {
		deps[n.ID] = map[string]bool{}
		for _, d := range n.Deps {
			deps[n.ID][d.ID] = true
		}
		if n.Task == "node_upgrade" {
			rollout = append(rollout, n)
		}
	}
	var order []string
	for _, n := range rollout {
		if n.Rolling == nil {
			t.Fatalf("%s does not roll", n.ID)
		}
		order = append(order, fmt.Sprintf("%s:%d", n.Host.Name, n.Batch))
		if n.Rolling.Size != 2 || n.Rolling.MaxFailPercentage != 20 {
			t.Errorf("%s: batch size %d, max_fail_percentage %d; want 2 (50%% of 5), 20", n.ID, n.Rolling.Size, n.Rolling.MaxFailPercentage)
		}
		if !deps[n.ID]["node_upgrade_token[cp1]"] || !deps["node_upgrade_revoke[cp1]"][n.ID] {
			t.Errorf("%s: not between node_upgrade_token[cp1] and node_upgrade_revoke[cp1]", n.ID)
		}
	}
	if got, want := strings.Join(order, " "), "cp1:0 cp2:0 w1:1 w2:1 w3:2"; got != want {
		t.Errorf("rollout batches %s, want %s (masters first)", got, want)
	}
	for _, h := range []string{"cp1", "cp2"} {
		for _, task := range []string{"kube_apiserver", "kube_controller_manager", "kube_scheduler"} {
			if !deps["node_upgrade_token[cp1]"][task+"["+h+"]"] {
				t.Errorf("node_upgrade_token[cp1] does not wait for %s[%s]: a kubelet could restart before that master's control plane", task, h)
			}
		}
	}
	for _, h := range []string{"cp1", "cp2", "w1", "w2", "w3"} {
		if !deps["node_upgrade_token[cp1]"]["node_binaries["+h+"]"] {
			t.Errorf("node_upgrade_token[cp1] does not wait for node_binaries[%s]", h)
		}
	}
	if !deps["checks[cp1]"]["node_upgrade_revoke[cp1]"] {
		t.Errorf("the checks do not wait for the end of the rollout")
	}

	script, err := os.ReadFile("scratch/templates/node-upgrade.sh")
	if err != nil {
		t.Fatal(err)
	}
	drain := regexp.MustCompile(`k drain "\$NODE" [^\n]*`).FindString(string(script))
	if !strings.Contains(drain, "--ignore-daemonsets --delete-emptydir-data --timeout=") || strings.Contains(drain, "--force") || strings.Contains(drain, "--disable-eviction") {
		t.Errorf("drain command %q: want evictions (no --force, no --disable-eviction), DaemonSet pods kept, emptyDir data deleted, a timeout", drain)
	}
	rbac, err := os.ReadFile("scratch/templates/node-upgrade-rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, rules, _ := strings.Cut(string(rbac), "rules:")
	rules, _, _ = strings.Cut(rules, "---")
	if !strings.Contains(rules, `resources: ["pods/eviction"]`) {
		t.Errorf("the rollout's ClusterRole cannot evict:\n%s", rules)
	}
	if n := strings.Count(rules, "create"); n != 1 {
		t.Errorf("the rollout's ClusterRole may create %d kinds of things, want 1 (evictions)", n)
	}
	for _, bad := range []string{"delete", "\"*\"", "secrets", "update"} {
		if strings.Contains(rules, bad) {
			t.Errorf("the rollout's ClusterRole grants %s", bad)
		}
	}
}

// Every node of the scratch plan reaches install_id on its own host through same-host
// dependencies: the executor chains what those produced into a node's fingerprint, so a
// host that was reset (a new install id) runs every task on it again. A node without such a
// path would be taken for up to date on a reset host (pki_share was, and the re-added
// master had no CA).
func TestEveryScratchNodeFollowsItsHostsInstallID(t *testing.T) {
	for _, hostsArg := range [][]string{{"masters=cp1"}, {"masters=cp1", "workers=w1,w2"}, {"masters=cp1,cp2,cp3", "workers=w1"}} {
		p, diags := dsl.Load([]string{"scratch"}, dsl.Options{FS: builtinplans.FS(), Hosts: hostsArg})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		follows := map[*dsl.Node]bool{}
		for _, n := range p.Nodes() { // topological order
			if n.Task == "install_id" {
				follows[n] = true
				continue
			}
			for _, d := range n.Deps {
				if d.Host.Name == n.Host.Name && follows[d] {
					follows[n] = true
					break
				}
			}
			if !follows[n] {
				t.Errorf("%v: %s does not depend, on its own host, on anything after install_id", hostsArg, n.ID)
			}
		}
	}
}
