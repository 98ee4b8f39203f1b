package integration

// Day two on a running cluster (issue 17): the operations of docs/scratch.md's Day two section,
// each proven on a lab cluster built by the scratch plan.

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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
// changes. Then every leaf certificate is renewed (renewCertificates), and the worker is
// removed again (scratch-remove).
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
	if s := r3.summary(t); s.Changed != 0 || s.UpToDate != s.Nodes-c.alwaysRunNodes() {
		t.Errorf("re-run after growing: %d of %d up to date, %d changed; want all but the %d always_run nodes up to date and none changed:\n%s",
			s.UpToDate, s.Nodes, s.Changed, c.alwaysRunNodes(), strings.Join(notUpToDate(r3), "\n"))
	}
	t.Logf("re-run after growing: %s; bootstrap token %s -> %s; %s", d3.Round(time.Second),
		strings.TrimSpace(oldToken), strings.TrimSpace(newToken), strconv.Quote(since(c.start)))

	// Renew: every leaf certificate of the three nodes, then nothing.
	c.renewCertificates(ctx, t)

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
// containerd restart (etcd healthy again before the run goes on; containerd through the node's
// rollout, not drained: it is the cluster's only node), the API server does not.
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
	// containerd restarts through the node's rollout, without a drain: the only node's pods
	// would have nowhere to go.
	if _, out, _ := rolloutOf(r2); !strings.Contains(out[c.master.Alias], "to restart: containerd,") || !strings.Contains(out[c.master.Alias], "the cluster's only node: not drained") || strings.Contains(out[c.master.Alias], "cordoned") {
		t.Errorf("node_upgrade[%s] did not restart containerd alone without a drain:\n%s", c.master.Alias, out[c.master.Alias])
	}
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

// leafCertPaths are the leaf certificates the scratch plan makes and renews on a host: on a
// master the client and server certificates in /etc/kubernetes/pki (and, on the first, the
// kube-proxy certificates it signed); on every node kube-proxy's and the API load
// balancer's health-check copy of it.
const leafCertPaths = "/etc/kubernetes/pki/*.crt /etc/kubernetes/pki/kube-proxy/*.crt /var/lib/kube-proxy/kube-proxy.crt /etc/haproxy/kube-apiserver-lb.pem"

// caCertPaths are the CAs, which a renewal never touches.
var caCertPaths = []string{"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/front-proxy-ca.crt", "/etc/kubernetes/pki/etcd-ca.crt", "/etc/kubernetes/pki/kubelet-serving-ca.crt"}

// certInfo is what renewCertificates compares of one certificate file.
type certInfo struct{ serial, pubkey, issuer, notAfter string }

// certs reads every certificate of leafCertPaths on h (the CAs among them too): serial,
// public key digest, issuer, not-after.
func (c *scratchCluster) certs(h *lab.Host) map[string]certInfo {
	out := c.mustSh(h, `for f in `+leafCertPaths+`; do
  [ -f "$f" ] || continue
  printf '%s|%s|%s|%s|%s\n' "$f" "$(openssl x509 -noout -serial -in "$f" | cut -d= -f2)" \
    "$(openssl x509 -noout -pubkey -in "$f" | sha256sum | cut -c1-16)" \
    "$(openssl x509 -noout -issuer -nameopt RFC2253 -in "$f" | sed 's/^issuer= *//')" \
    "$(openssl x509 -noout -enddate -in "$f" | cut -d= -f2)"
done`)
	m := map[string]certInfo{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(l, "|")
		if len(f) == 5 {
			m[f[0]] = certInfo{f[1], f[2], f[3], f[4]}
		}
	}
	return m
}

// invocations are the systemd InvocationIDs of the units on h that read the plan's
// certificates: every one is new after a renewal.
func (c *scratchCluster) invocations(h *lab.Host) map[string]string {
	units := []string{"kube-proxy"}
	if c.isMaster(h) {
		units = append(units, "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
	}
	m := map[string]string{}
	for _, u := range units {
		m[u] = strings.TrimSpace(c.mustSh(h, "systemctl show -p InvocationID --value "+u))
	}
	return m
}

// renewCertificates runs the plan with cert_renew_before_days (400) above the leaf
// certificates' lifetime (cert_days, 365), so that every one is due: each host's report
// (cert_expiry) lists them; every leaf certificate gets a new serial, the same key and the
// same issuer, the CAs stay byte for byte; etcd, the API server, the controller manager, the
// scheduler and every kube-proxy restart (new InvocationIDs), the servers present their new
// certificates, and the cluster works (nodes Ready, kubectl as the admin, pods, DNS and a
// Service, from pods and from every node). The kubelets' own certificates rotate by
// themselves: their configuration says so. A run with the default threshold after that
// reports nothing due and changes nothing.
func (c *scratchCluster) renewCertificates(ctx context.Context, t *testing.T) {
	hosts := c.clusterHosts()
	before, caSums, units := map[string]map[string]certInfo{}, map[string]string{}, map[string]map[string]string{}
	for _, h := range hosts {
		before[h.Alias] = c.certs(h)
		units[h.Alias] = c.invocations(h)
		caSums[h.Alias] = c.mustSh(h, "sha256sum "+strings.Join(caCertPaths, " ")+" 2>/dev/null || true")
		// the kubelet renews its own client and serving certificates
		cfg := c.mustSh(h, "cat /var/lib/kubelet/config.yaml")
		for _, want := range []string{"rotateCertificates: true", "serverTLSBootstrap: true"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("%s: the kubelet's configuration lacks %q: its certificates would not rotate", h.Name, want)
			}
		}
	}

	r, d := c.run(ctx, scratchReRunTimeout, nil, "--var", "cert_renew_before_days=400")
	c.requireSuccess(r, "run with cert_renew_before_days=400 (every leaf certificate due)")
	s := r.summary(t)
	t.Logf("renewal run (cert_renew_before_days=400): %s, %d nodes, %d changed", d.Round(time.Second), s.Nodes, s.Changed)

	// The reports, per host, and what the run said while it renewed and rolled.
	reports := map[string]string{}
	var said []string
	for _, ev := range r.events {
		if ev.Kind != executor.EventStepOutput || ev.Stream != "stdout" {
			continue
		}
		switch {
		case ev.Task == "cert_expiry":
			reports[ev.Host] += ev.Text + "\n"
		case strings.Contains(ev.Text, "renewed") || strings.Contains(ev.Text, "restarting") || strings.Contains(ev.Text, "healthy again"):
			said = append(said, ev.Node+": "+ev.Text)
		}
	}
	t.Logf("what the plan said while renewing:\n  %s", strings.Join(said, "\n  "))
	if len(c.masters) > 1 {
		c.checkOneAtATime(t, r)
	}

	for _, h := range hosts {
		t.Logf("report of %s:\n%s", h.Alias, reports[h.Alias])
		after := c.certs(h)
		if len(after) != len(before[h.Alias]) || len(after) < 2 {
			t.Errorf("%s: certificates before %d, after %d", h.Name, len(before[h.Alias]), len(after))
		}
		renewed := 0
		for path, old := range before[h.Alias] {
			now := after[path]
			if slices.Contains(caCertPaths, path) {
				continue
			}
			renewed++
			switch {
			case now.serial == "" || now.serial == old.serial:
				t.Errorf("%s: %s was not renewed (serial %s, then %s)", h.Name, path, old.serial, now.serial)
			case now.pubkey != old.pubkey:
				t.Errorf("%s: %s has a new key; keys are kept on renewal", h.Name, path)
			case now.issuer != old.issuer:
				t.Errorf("%s: %s is issued by %q, was %q", h.Name, path, now.issuer, old.issuer)
			}
			if !regexp.MustCompile(`(?m)^renew +` + regexp.QuoteMeta(path) + `  \S`).MatchString(reports[h.Alias]) {
				t.Errorf("%s: the report does not list %s as due for renewal", h.Name, path)
			}
		}
		if sums := c.mustSh(h, "sha256sum "+strings.Join(caCertPaths, " ")+" 2>/dev/null || true"); sums != caSums[h.Alias] {
			t.Errorf("%s: a CA changed:\n%s\nthen\n%s", h.Name, caSums[h.Alias], sums)
		}
		for u, id := range c.invocations(h) {
			if id == "" || id == units[h.Alias][u] {
				t.Errorf("%s: %s did not restart (InvocationID %s, then %s)", h.Name, u, units[h.Alias][u], id)
			}
		}
		t.Logf("%s: %d leaf certificates renewed (new serial, same key and issuer), CAs unchanged, %v restarted", h.Name, renewed, slices.Sorted(maps.Keys(units[h.Alias])))
	}

	// The servers present their new certificates.
	now := c.certs(c.master)
	for _, p := range []struct{ addr, file string }{
		{"127.0.0.1:6443", "/etc/kubernetes/pki/kube-apiserver.crt"},
		{"127.0.0.1:2379", "/etc/kubernetes/pki/etcd.crt"},
	} {
		out := c.mustSh(c.master, "openssl s_client -connect "+p.addr+" </dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2")
		if got := strings.TrimSpace(out); got != now[p.file].serial {
			t.Errorf("%s serves serial %s, want the renewed %s's %s", p.addr, got, p.file, now[p.file].serial)
		}
	}

	// The cluster works.
	c.eventually("every node Ready after the renewal", 3*time.Minute, func() error {
		out, err := c.kubectl("get nodes --no-headers")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != len(hosts) || strings.Contains(out, "NotReady") {
			return fmt.Errorf("nodes:\n%s", out)
		}
		return nil
	})
	if out, err := c.kubectl("auth can-i '*' '*'"); err != nil || strings.TrimSpace(out) != "yes" {
		t.Errorf("kubectl as the admin (renewed certificate) after the renewal: %q %v", out, err)
	}
	t.Run("workloads-after-renewal", func(t *testing.T) { c.with(t).checkWorkloads(t) })

	// The default threshold: nothing is due, nothing changes.
	r2, d2 := c.run(ctx, scratchReRunTimeout, nil)
	c.requireSuccess(r2, "run with the default cert_renew_before_days after the renewal")
	s2 := r2.summary(t)
	if s2.Changed != 0 {
		t.Errorf("run with the default threshold after the renewal changed %d nodes:\n%s", s2.Changed, strings.Join(notUpToDate(r2), "\n"))
	}
	for _, ev := range r2.events {
		if ev.Kind == executor.EventStepOutput && ev.Task == "cert_expiry" && ev.Stream == "stdout" {
			if strings.HasPrefix(ev.Text, "renew ") || !strings.Contains(ev.Text, "none expires within 30 days") {
				t.Errorf("%s's report with the default threshold: %q, want nothing due", ev.Host, ev.Text)
			}
		}
	}
	t.Logf("run with the default threshold after the renewal: %s, %d changed, %d up to date of %d", d2.Round(time.Second), s2.Changed, s2.UpToDate, s2.Nodes)
}

// checkOneAtATime checks, from what templates/rolling-restart.sh printed in run r ("UNIT:
// restarting, HH:MM:SS" ... "UNIT: healthy again, HH:MM:SS" on each master), that every
// control-plane unit restarted on every master, and never on two masters at once: each
// restart began after the one before it was healthy again.
func (c *scratchCluster) checkOneAtATime(t *testing.T, r *planRun) {
	t.Helper()
	type span struct {
		node        string
		start, stop string
	}
	spans := map[string]map[string]*span{} // unit -> node -> span
	// started: units the rolling restart found not running and started (with the new
	// certificates; nothing was taken down). A scheduler or controller manager that loses its
	// leader lease while its master's API server restarts exits, and systemd is restarting it
	// when its turn comes (CI at cd2d7a1 saw it once for kube-scheduler).
	started := map[string][]string{} // unit -> nodes
	re := regexp.MustCompile(`^(\S+): (restarting|healthy again), (\d\d:\d\d:\d\d)$`)
	startRe := regexp.MustCompile(`^(\S+): starting$`)
	for _, ev := range r.events {
		if ev.Kind != executor.EventStepOutput || ev.Step != "rollout" {
			continue
		}
		if m := startRe.FindStringSubmatch(ev.Text); m != nil {
			started[m[1]] = append(started[m[1]], ev.Node)
			continue
		}
		m := re.FindStringSubmatch(ev.Text)
		if m == nil {
			continue
		}
		if spans[m[1]] == nil {
			spans[m[1]] = map[string]*span{}
		}
		sp := spans[m[1]][ev.Node]
		if sp == nil {
			sp = &span{node: ev.Node}
			spans[m[1]][ev.Node] = sp
		}
		if m[2] == "restarting" {
			sp.start = m[3]
		} else {
			sp.stop = m[3]
		}
	}
	for _, unit := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		var list []*span
		for _, sp := range spans[unit] {
			list = append(list, sp)
		}
		if len(started[unit]) > 0 {
			t.Logf("%s was not running when its turn came, started anew on %v", unit, started[unit])
		}
		if len(list)+len(started[unit]) != len(c.masters) {
			t.Errorf("%s restarted through the rolling restart on %d masters and started on %d, want %d in all", unit, len(list), len(started[unit]), len(c.masters))
			continue
		}
		sort.Slice(list, func(i, j int) bool { return list[i].start < list[j].start })
		var order []string
		for i, sp := range list {
			order = append(order, fmt.Sprintf("%s %s-%s", sp.node, sp.start, sp.stop))
			if sp.start == "" || sp.stop == "" {
				t.Errorf("%s on %s: restart not reported whole (%s to %s)", unit, sp.node, sp.start, sp.stop)
			}
			if i > 0 && sp.start < list[i-1].stop {
				t.Errorf("%s restarted on %s at %s, before it was healthy again on %s (%s)", unit, sp.node, sp.start, list[i-1].node, list[i-1].stop)
			}
		}
		t.Logf("%s restarted one master at a time: %s", unit, strings.Join(order, ", "))
	}
}
