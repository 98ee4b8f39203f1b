package integration

// Day two on a running cluster (issue 17): the operations of docs/scratch.md's Day two section,
// each proven on a lab cluster built by the scratch plan.

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plan-dev/plan/executor"
	"github.com/plan-dev/plan/integration/artifacts"
	"github.com/plan-dev/plan/integration/lab"
)

// TestScratchGrow adds a worker to a running cluster whose bootstrap token is gone (its
// Secret is deleted once every node has joined; a short lifetime, 0.05 h, for the new one).
// The first master's bootstrap check finds a node that has not joined and no valid token and
// makes a new one; the new worker gets it and joins, and the new token's Secret is deleted; its kubelet's serving certificate is approved and judged from the certificate
// it serves (the API server reaches it through the node proxy, verifying it against the CA);
// on the hosts already in the cluster only the cluster-wide steps run and nothing of theirs
// changes.
func TestScratchGrow(t *testing.T) {
	c, ctx := newScratchCluster(t, 3, lab.UserNopw, lab.OracleLinuxLike())
	newWorker := c.workers[1]
	c.workers = c.workers[:1]
	c.vars = []string{"bootstrap_token_ttl_hours=0.05"}

	r1, d1 := c.run(ctx, scratchFirstRunTimeout, nil)
	c.requireSuccess(r1, "first run (master and one worker)")
	t.Logf("first run (1 master, 1 worker): %s", d1.Round(time.Second))
	oldToken := c.mustSh(c.master, "cut -d. -f1 /etc/kubernetes/bootstrap-token")

	// Every node joined, so the token's Secret is gone already (bootstrap_token_cleanup,
	// CIS: no bootstrap credential left behind): the token is as dead as an expired one.
	if out := strings.TrimSpace(c.mustSh(c.master, "kubectl -n kube-system get secrets --field-selector type=bootstrap.kubernetes.io/token -o name")); out != "" {
		t.Errorf("bootstrap token Secrets after every node joined: %s", out)
	}

	c.workers = append(c.workers, newWorker)
	r2, d2 := c.run(ctx, scratchFirstRunTimeout, nil)
	c.requireSuccess(r2, "grow run (a worker added after the token expired)")
	t.Logf("grow run (worker %s added): %s", newWorker.Alias, d2.Round(time.Second))
	newToken := c.mustSh(c.master, "cut -d. -f1 /etc/kubernetes/bootstrap-token")
	if newToken == oldToken {
		t.Errorf("the bootstrap token was not made again after it expired (still %s)", strings.TrimSpace(oldToken))
	}
	if ev := r2.node(t, "bootstrap["+c.master.Alias+"]"); ev.Status != executor.StatusChanged {
		t.Errorf("bootstrap[%s] is %s, want changed (a new token)", c.master.Alias, ev.Status)
	}

	// What ran and changed on the hosts that were there before.
	changedSteps := map[string][]string{}
	for _, ev := range r2.events {
		if ev.Kind == executor.EventStepFinished && ev.Status == executor.StatusChanged {
			changedSteps[ev.Node] = append(changedSteps[ev.Node], ev.Step)
		}
	}
	var ran, changed []string
	newNodes := 0
	for _, ev := range r2.events {
		if ev.Kind != executor.EventNodeFinished {
			continue
		}
		if strings.HasSuffix(ev.Node, "["+newWorker.Alias+"]") {
			newNodes++
			continue
		}
		if ev.Status == executor.StatusUpToDate {
			continue
		}
		ran = append(ran, ev.Node+" "+string(ev.Status))
		if ev.Status == executor.StatusChanged {
			changed = append(changed, fmt.Sprintf("%s (%s)", ev.Node, strings.Join(changedSteps[ev.Node], ", ")))
		}
	}
	sort.Strings(ran)
	t.Logf("grow run: %d nodes on the new worker; on the others %d ran:\n  %s", newNodes, len(ran), strings.Join(ran, "\n  "))
	// Cluster-wide steps that must change when a node joins: a new token; the new kubelet's
	// serving certificate approved.
	// serving certificate approved; its line in the serving allowlist and its kube-proxy
	// certificate (addon_files, kube_proxy_certs); the new token's Secret deleted once it
	// joined.
	allowed := map[string]bool{
		"bootstrap[" + c.master.Alias + "]":               true,
		"kubelet_serving[" + c.master.Alias + "]":         true,
		"addon_files[" + c.master.Alias + "]":             true,
		"kube_proxy_certs[" + c.master.Alias + "]":        true,
		"bootstrap_token_cleanup[" + c.master.Alias + "]": true,
	}
	for _, ch := range changed {
		node, _, _ := strings.Cut(ch, " ")
		if !allowed[node] {
			t.Errorf("grow run changed %s on a host that was already in the cluster", ch)
		}
	}

	// The new node is Ready and serves a certificate the API server accepts.
	c.eventually("the new node Ready", 3*time.Minute, func() error {
		out, err := c.kubectl("get node " + newWorker.Name + " -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "True" {
			return fmt.Errorf("Ready is %q", out)
		}
		return nil
	})
	if out, err := c.kubectl("get --raw /api/v1/nodes/" + newWorker.Name + "/proxy/healthz"); err != nil || strings.TrimSpace(out) != "ok" {
		t.Errorf("the API server does not reach the new kubelet over verified TLS: %q %v", out, err)
	}
	if out := c.mustSh(newWorker, "ls /var/lib/kubelet/pki/"); !strings.Contains(out, "kubelet-server-current.pem") {
		t.Errorf("the new kubelet has no serving certificate: %s", out)
	}

	if out := strings.TrimSpace(c.mustSh(c.master, "kubectl -n kube-system get secrets --field-selector type=bootstrap.kubernetes.io/token -o name")); out != "" {
		t.Errorf("bootstrap token Secrets after the new node joined: %s", out)
	}

	// A re-run right after: every node has joined, so only the always_run checks run and
	// nothing changes.
	r3, d3 := c.run(ctx, scratchReRunTimeout, nil)
	c.requireSuccess(r3, "re-run after growing")
	if s := r3.summary(t); s.Changed != 0 || s.UpToDate != s.Nodes-len(alwaysRunTasks) {
		t.Errorf("re-run after growing: %d of %d up to date, %d changed; want all but 2 up to date and none changed:\n%s",
			s.UpToDate, s.Nodes, s.Changed, strings.Join(notUpToDate(r3), "\n"))
	}
	t.Logf("re-run after growing: %s; bootstrap token %s -> %s; %s", d3.Round(time.Second),
		strings.TrimSpace(oldToken), strings.TrimSpace(newToken), strconv.Quote(since(c.start)))

	// Shrink: the worker leaves again (drained, its Node deleted, the host reset), and the
	// scratch plan without it succeeds.
	rm, dm := c.runPlan(ctx, scratchReRunTimeout, nil, []string{"scratch-remove", "-F", c.l.SSHConfig,
		"-H", "masters=" + c.master.Alias, "-H", "remove=" + newWorker.Alias})
	c.requireSuccess(rm, "scratch-remove")
	t.Logf("scratch-remove (worker %s): %s", newWorker.Alias, dm.Round(time.Second))
	if out, err := c.kubectl("get node " + newWorker.Name); err == nil {
		t.Errorf("the removed node is still in the cluster: %s", out)
	}
	if out, _ := c.sh(newWorker, "systemctl is-active kubelet; ls /etc/kubernetes 2>&1"); !strings.Contains(out, "No such file") {
		t.Errorf("the removed host was not reset: %s", out)
	}
	c.workers = c.workers[:1]
	r4, d4 := c.run(ctx, scratchReRunTimeout, nil)
	c.requireSuccess(r4, "scratch run without the removed worker")
	t.Logf("scratch run after the removal: %s, %d changed", d4.Round(time.Second), r4.summary(t).Changed)
	c.eventually("the remaining nodes Ready", 2*time.Minute, func() error {
		out, err := c.kubectl("get nodes --no-headers")
		if err != nil {
			return err
		}
		if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 2 || strings.Contains(out, "NotReady") {
			return fmt.Errorf("nodes:\n%s", out)
		}
		return nil
	})
}

// TestScratchBackupRestore backs a cluster up with scratch-backup, builds a fresh cluster on
// the same host (scratch-reset, then scratch with a new run state: a new CA, new keys, an
// empty etcd), restores the snapshot there with scratch-restore, and reads back a Secret
// made before the snapshot. Neither the Secret's value nor the encryption key appears in
// anything plan printed.
func TestScratchBackupRestore(t *testing.T) {
	c, ctx := newScratchCluster(t, 1, lab.UserNopw, lab.OracleLinuxLike())
	etcdutl := etcdutlBinary(ctx, t)
	r1, d1 := c.run(ctx, scratchFirstRunTimeout, nil)
	c.requireSuccess(r1, "first run")
	t.Logf("first cluster: %s", d1.Round(time.Second))

	value := fmt.Sprintf("day2-secret-%d", time.Now().UnixNano())
	c.mustSh(c.master, "kubectl create secret generic day2-backup --from-literal=word="+value)
	encKey := c.mustSh(c.master, "sed -n 's/^ *secret: *//p' /etc/kubernetes/encryption-config.yaml | head -1")
	oldCA := c.mustSh(c.master, "sha256sum /etc/kubernetes/pki/ca.crt")

	backups := filepath.Join(c.work, "backups")
	hostArgs := []string{"-F", c.l.SSHConfig, "-H", "masters=" + c.master.Alias}
	rb, db := c.runPlan(ctx, scratchReRunTimeout, nil, append([]string{"scratch-backup", "--var", "backup_dir=" + backups}, hostArgs...))
	c.requireSuccess(rb, "scratch-backup")
	snaps, _ := filepath.Glob(filepath.Join(backups, "etcd-"+c.master.Alias+"-*.db"))
	encs, _ := filepath.Glob(filepath.Join(backups, "etcd-"+c.master.Alias+"-*.encryption-config.yaml"))
	if len(snaps) != 1 || len(encs) != 1 {
		t.Fatalf("backup files: snapshots %v, encryption configs %v; want one of each", snaps, encs)
	}
	for _, f := range append(snaps, encs...) {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, fi.Mode(), err)
		}
	}
	fi, _ := os.Stat(snaps[0])
	t.Logf("scratch-backup: %s, snapshot %d bytes", db.Round(time.Second), fi.Size())
	if out, _ := c.sh(c.master, "ls /var/lib/scratch/backup/"); strings.TrimSpace(out) != "" {
		t.Errorf("the snapshot was left on the master: %s", out)
	}

	// A fresh cluster on the same host: reset, then built again with a new run state.
	rr, _ := c.runPlan(ctx, scratchReRunTimeout, nil, append([]string{"scratch-reset"}, hostArgs...))
	c.requireSuccess(rr, "scratch-reset")
	c.work = t.TempDir()
	r2, d2 := c.run(ctx, scratchFirstRunTimeout, nil)
	c.requireSuccess(r2, "second cluster")
	t.Logf("fresh cluster: %s", d2.Round(time.Second))
	if c.mustSh(c.master, "sha256sum /etc/kubernetes/pki/ca.crt") == oldCA {
		t.Fatalf("the fresh cluster has the old CA: not fresh")
	}
	if out, err := c.kubectl("get secret day2-backup"); err == nil {
		t.Fatalf("the fresh cluster has the Secret before the restore: %s", out)
	}

	rs, ds := c.runPlan(ctx, scratchFirstRunTimeout, nil, append([]string{"scratch-restore",
		"--var", "snapshot=" + snaps[0], "--var", "encryption_config=" + encs[0], "--var", "etcdutl=" + etcdutl}, hostArgs...))
	c.requireSuccess(rs, "scratch-restore")
	t.Logf("scratch-restore: %s", ds.Round(time.Second))
	c.eventually("the Secret made before the snapshot", 2*time.Minute, func() error {
		out, err := c.kubectl("get secret day2-backup -o jsonpath='{.data.word}'")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
		if err != nil || string(got) != value {
			return fmt.Errorf("word is %q (%v), want the value made before the snapshot", got, err)
		}
		return nil
	})
	c.eventually("the node Ready after the restore", 3*time.Minute, func() error {
		out, err := c.kubectl("get node " + c.master.Name + " -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'")
		if err != nil || strings.TrimSpace(out) != "True" {
			return fmt.Errorf("Ready %q %v", out, err)
		}
		return nil
	})
	for _, r := range []*planRun{rb, rr, rs} {
		for _, s := range []string{value, strings.TrimSpace(encKey)} {
			if s != "" && strings.Contains(r.stdout+r.stderr, s) {
				t.Errorf("plan's output shows a secret (the Secret's value or the encryption key)")
			}
		}
	}
	t.Logf("%s backup and restore proof done", since(c.start))
}

// etcdutlBinary is an etcdutl of the artifacts' etcd version: $PLAN_ETCDUTL, or built from
// its Go module (the artifacts do not hold one) into the user cache, once.
func etcdutlBinary(ctx context.Context, t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PLAN_ETCDUTL"); p != "" {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(cache, "plan-etcdutl", artifacts.EtcdVersion, "etcdutl")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	dir := t.TempDir()
	mod := "go.etcd.io/etcd/etcdutl/v3"
	steps := [][]string{
		{"go", "mod", "init", "etcdutlbuild"},
		{"go", "get", mod + "@" + artifacts.EtcdVersion},
		{"go", "build", "-trimpath", "-o", out, mod},
	}
	if err := os.WriteFile(filepath.Join(dir, "tools.go"), []byte("//go:build tools\n\npackage tools\n\nimport _ \""+mod+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, s[0], s[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build etcdutl (%s): %v\n%s", strings.Join(s, " "), err, b)
		}
	}
	return out
}

// TestScratchRestartOnNewBinary changes the etcd and containerd binaries under the same
// version (as a patched rebuild would: the cached files with bytes appended, in this test's
// own copy of the artifacts) and runs the plan again: the new files are pushed, etcd and
// containerd restart (etcd healthy again before the run goes on), the API server does not.
// Then kube-apiserver, kube-scheduler and kubelet change: those three restart, the others
// do not. A run after that changes nothing. The one-member-at-a-time order of etcd (serial = 1)
// is the executor's (TestRolling* in executor/); this lab has one master.
func TestScratchRestartOnNewBinary(t *testing.T) {
	c, ctx := newScratchCluster(t, 1, lab.UserNopw, lab.OracleLinuxLike())
	if c.artifacts == artifacts.DirFromEnv() {
		t.Fatal("no private copy of the artifacts: this test must not change the shared cache")
	}
	r1, d1 := c.run(ctx, scratchFirstRunTimeout, nil)
	c.requireSuccess(r1, "first run")
	t.Logf("first run: %s", d1.Round(time.Second))
	pids := func() map[string]string {
		out := c.mustSh(c.master, "for u in etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do echo \"$u $(systemctl show -p MainPID --value $u)\"; done")
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			u, p, _ := strings.Cut(l, " ")
			m[u] = p
		}
		return m
	}
	before := pids()

	rebuild := func(rels ...string) {
		for _, rel := range rels {
			path := filepath.Join(c.artifacts, rel)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The snapshot holds hard links to the shared cache: replace the link, never
			// write through it.
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, append(data, make([]byte, 4096)...), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	rebuild(filepath.Join("etcd", artifacts.EtcdVersion, "etcd"), filepath.Join("containerd", artifacts.ContainerdVersion, "containerd"))

	r2, d2 := c.run(ctx, scratchReRunTimeout, nil)
	c.requireSuccess(r2, "run with new etcd and containerd binaries")
	after := pids()
	t.Logf("run with new binaries: %s; main PIDs before %v, after %v", d2.Round(time.Second), before, after)
	for _, u := range []string{"etcd", "containerd"} {
		if after[u] == before[u] || after[u] == "0" {
			t.Errorf("%s was not restarted on its new binary (PID %s, then %s)", u, before[u], after[u])
		}
		if out, err := c.sh(c.master, fmt.Sprintf("[ \"$(stat -L -c %%d:%%i /proc/%s/exe)\" = \"$(stat -c %%d:%%i /usr/local/bin/%s)\" ]", after[u], u)); err != nil {
			t.Errorf("%s does not run the installed binary: %v %s", u, err, out)
		}
	}
	if after["kube-apiserver"] != before["kube-apiserver"] {
		t.Errorf("kube-apiserver restarted (PID %s, then %s), its binary did not change", before["kube-apiserver"], after["kube-apiserver"])
	}

	// Kubernetes binaries: the API server, the scheduler and the kubelet change; the
	// controller manager and kube-proxy do not.
	k8s := filepath.Join("kubernetes", artifacts.KubernetesVersion)
	rebuild(filepath.Join(k8s, "kube-apiserver"), filepath.Join(k8s, "kube-scheduler"), filepath.Join(k8s, "kubelet"))
	before = after
	rk, dk := c.run(ctx, scratchReRunTimeout, nil)
	c.requireSuccess(rk, "run with new Kubernetes binaries")
	after = pids()
	t.Logf("run with new kube-apiserver, kube-scheduler and kubelet: %s; main PIDs before %v, after %v", dk.Round(time.Second), before, after)
	for _, u := range []string{"kube-apiserver", "kube-scheduler", "kubelet"} {
		if after[u] == before[u] || after[u] == "0" {
			t.Errorf("%s was not restarted on its new binary (PID %s, then %s)", u, before[u], after[u])
		}
	}
	// (kube-controller-manager and kube-proxy may restart on their own while the only API
	// server restarts: the controller manager exits when it cannot renew its leader lease,
	// kube-proxy was seen restarted too. Not so the two below.)
	for _, u := range []string{"etcd", "containerd"} {
		if after[u] != before[u] {
			t.Errorf("%s restarted (PID %s, then %s), its binary did not change", u, before[u], after[u])
		}
	}
	r3, _ := c.run(ctx, scratchReRunTimeout, nil)
	c.requireSuccess(r3, "re-run")
	if s := r3.summary(t); s.Changed != 0 {
		t.Errorf("re-run after the restarts changed %d nodes:\n%s", s.Changed, strings.Join(notUpToDate(r3), "\n"))
	}
	c.eventually("the node Ready", 2*time.Minute, func() error {
		out, err := c.kubectl("get node " + c.master.Name + " -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'")
		if err != nil || strings.TrimSpace(out) != "True" {
			return fmt.Errorf("Ready %q %v", out, err)
		}
		return nil
	})
}
