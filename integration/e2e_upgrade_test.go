package integration

// The upgrade of a running cluster (issue 17): built at the previous versions, upgraded by a
// run at the plan's defaults while a Deployment behind a Service is probed.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plan-dev/plan/executor"
	"github.com/plan-dev/plan/integration/artifacts"
	"github.com/plan-dev/plan/integration/lab"
)

// upgradeSwitch makes TestScratchUpgrade required: without the previous versions' artifacts
// it fails instead of skipping. .ci/run sets it.
const upgradeSwitch = "PLAN_TEST_K8S_UPGRADE"

// upgradeProbePort is the probe Service's NodePort.
const upgradeProbePort = 30417

// upgradeMaxFailedProbes bounds the probes of the Service that may fail during the upgrade
// run (the goal is none; the figure is logged).
const upgradeMaxFailedProbes = 0.01

// TestScratchUpgrade builds a cluster of one master and two workers at the previous versions
// (Kubernetes v1.35.4, etcd v3.6.15, containerd v2.4.1), runs a Deployment of two probe pods
// (one per worker, a PodDisruptionBudget of minAvailable 1) behind a NodePort Service, and
// upgrades the cluster by running the plan at its defaults (v1.36.3, v3.6.16, v2.4.2) while
// the test asks the Service every 200 ms, through each node's NodePort in turn. A first upgrade
// run is held up by the PodDisruptionBudget (no eviction allowed): the master (cordoned by its
// operator) rolls and stays cordoned, the first
// worker's drain times out and it is uncordoned untouched, the second worker is not started,
// the run fails. With the budget at minAvailable 1 the next run finishes: the workers roll one
// at a time, each drained (the budget holding the second probe pod's eviction until its
// replacement is ready) and uncordoned, the master is not drained again. Then every node's
// kubelet, the API server, etcd, containerd and kube-proxy run the new versions, every node
// is Ready and schedulable, the rollout's ServiceAccount is gone, its token is in no output,
// log, state or host file, and re-runs change nothing.
func TestScratchUpgrade(t *testing.T) {
	required := os.Getenv(upgradeSwitch) == "1"
	missing, err := artifacts.Missing(artifacts.DirFromEnv(), artifacts.PreviousComponents())
	if err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	if len(missing) > 0 {
		why := fmt.Sprintf("the versions the upgrade starts from are not in %s (%v): build them with go run ./integration/artifacts/cmd/build-artifacts -previous",
			artifacts.DirFromEnv(), artifacts.Names(missing))
		if required {
			t.Fatalf("%s=1 and %s", upgradeSwitch, why)
		}
		t.Skipf("%s (or set %s=1 to require them)", why, upgradeSwitch)
	}
	c, ctx := newScratchCluster(t, 3, lab.UserNopw, lab.OracleLinuxLike())
	previous := []string{
		"kubernetes_version=" + artifacts.PreviousKubernetesVersion,
		"etcd_version=" + artifacts.PreviousEtcdVersion,
		"containerd_version=" + artifacts.PreviousContainerdVersion,
	}
	c.vars = previous
	r1, d1 := c.run(ctx, scratchFirstRunTimeout, nil)
	c.requireSuccess(r1, "build at the previous versions")
	t.Logf("phase build at %s: %s", strings.Join(previous, ", "), d1.Round(time.Second))
	for _, h := range c.hosts() {
		if v := c.kubeletVersion(h); v != artifacts.PreviousKubernetesVersion {
			t.Fatalf("%s: kubelet %s after the build, want %s", h.Name, v, artifacts.PreviousKubernetesVersion)
		}
	}

	t0 := time.Now()
	c.deployUpgradeProbe(t)
	t.Logf("phase probe Deployment ready: %s", time.Since(t0).Round(time.Second))

	// The upgrade, first held up: a PodDisruptionBudget that allows no eviction (minAvailable
	// 2 of 2) stops the first worker's drain, with a short drain_timeout_seconds. That node is
	// uncordoned with nothing restarted, the rolling stops (the second worker is not started),
	// the run fails, and the rollout's ServiceAccount stays for the next run. The master was
	// cordoned by its operator before: it rolls, and stays cordoned.
	c.mustSh(c.master, "kubectl cordon "+c.master.Name)
	p := c.startProber(ctx)
	time.Sleep(2 * time.Second) // a baseline before the run
	c.vars = []string{"drain_timeout_seconds=15"}
	r2, d2 := c.run(ctx, scratchReRunTimeout+10*time.Minute, nil)
	t.Logf("phase upgrade run held up by the PodDisruptionBudget: %s, exit %d", d2.Round(time.Second), r2.exit)
	logPhases(t, r2, upgradePhases)
	c.checkHeldUp(t, r2)

	// The budget allows one eviction again: a plain run at the defaults finishes the rollout
	// with a new token, the master (done already) not drained again.
	c.mustSh(c.master, "kubectl patch pdb upgrade-probe --type=merge -p '{\"spec\":{\"minAvailable\":1}}' && kubectl uncordon "+c.master.Name)
	c.vars = nil
	r3, d3 := c.run(ctx, scratchReRunTimeout+10*time.Minute, nil)
	time.Sleep(2 * time.Second)
	failed, total, failures := p.stop()
	c.requireSuccess(r3, "upgrade run at the defaults")
	t.Logf("phase upgrade run that finishes the rollout: %s", d3.Round(time.Second))
	logPhases(t, r3, upgradePhases)
	t.Logf("probes of the Service through the NodePorts during both upgrade runs: %d failed of %d", failed, total)
	for _, f := range failures {
		t.Logf("  failed probe: %s", f)
	}
	if total < int((d2+d3)/time.Second) { // 5 a second, minus the slow ones
		t.Errorf("only %d probes in runs of %s: the prober did not run", total, d2+d3)
	}
	if float64(failed) > upgradeMaxFailedProbes*float64(total) {
		t.Errorf("%d of %d probes failed during the upgrade, more than %.0f%%", failed, total, 100*upgradeMaxFailedProbes)
	}
	c.checkDrained(t, r3)
	c.checkUpgraded(t)
	c.checkTokenNowhere(t)

	// A re-run changes nothing: no token, no drain. The token is gone from the inputs of the
	// rollout's nodes, so they run (and find nothing to do), and so does the first master's
	// checks, which follow them on that host (node_upgrade_token's outputs changed there: the
	// executor chains same-host outputs into fingerprints); the run after that finds every
	// node up to date but the always_run checks.
	r4, d4 := c.run(ctx, scratchReRunTimeout, nil)
	c.requireSuccess(r4, "re-run after the upgrade")
	t.Logf("phase re-run: %s", d4.Round(time.Second))
	for _, ev := range r4.events {
		if ev.Kind != executor.EventNodeFinished || ev.Status == executor.StatusUpToDate {
			continue
		}
		if task := ev.Task; ev.Status != executor.StatusOK || !alwaysRun(task) && task != "node_upgrade" && task != "node_upgrade_revoke" && task != "checks" {
			t.Errorf("re-run after the upgrade: %s is %s %s", ev.Node, ev.Status, ev.Reason)
		}
	}
	r5, d5 := c.run(ctx, scratchReRunTimeout, nil)
	c.requireSuccess(r5, "second re-run after the upgrade")
	t.Logf("phase second re-run: %s", d5.Round(time.Second))
	if s := r5.summary(t); s.UpToDate != s.Nodes-c.alwaysRunNodes() || s.Changed != 0 {
		t.Errorf("second re-run after the upgrade: %d of %d nodes up to date, %d changed; want all but the always_run tasks' up to date, none changed:\n%s",
			s.UpToDate, s.Nodes, s.Changed, strings.Join(notUpToDate(r5), "\n"))
	}
	c.checkTokenNowhere(t)
}

// upgradePhases are the tasks whose wall time the upgrade runs log.
var upgradePhases = []string{"etcd_binaries", "apiserver_binary", "control_plane_binaries", "node_binaries", "etcd", "kube_apiserver", "kube_controller_manager", "kube_scheduler", "node_upgrade_token", "node_upgrade", "node_upgrade_revoke"}

// kubeletVersion is the version h's Node reports for its kubelet.
func (c *scratchCluster) kubeletVersion(h *lab.Host) string {
	out, err := c.kubectl("get node " + h.Name + " -o jsonpath='{.status.nodeInfo.kubeletVersion}'")
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return strings.TrimSpace(out)
}

// upgradeProbeManifests: two probe pods, one per worker (required anti-affinity would block
// the drain's replacement pod, so the spread is preferred and the test checks where they
// run), kept off the master, a PodDisruptionBudget (allowing no eviction at first, then one
// at a time), a NodePort Service. The pods stop receiving traffic before they stop: readiness every second, and a
// preStop pause while the endpoints forget the pod.
const upgradeProbeManifests = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: upgrade-probe}
spec:
  replicas: 2
  selector: {matchLabels: {app: upgrade-probe}}
  template:
    metadata: {labels: {app: upgrade-probe}}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: node-role.kubernetes.io/control-plane, operator: DoesNotExist}]
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: upgrade-probe}}}
      terminationGracePeriodSeconds: 30
      containers:
      - name: probe
        image: %[1]s
        imagePullPolicy: Never
        args: [serve]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
        lifecycle: {preStop: {sleep: {seconds: 5}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: upgrade-probe}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: upgrade-probe}}
---
apiVersion: v1
kind: Service
metadata: {name: upgrade-probe}
spec:
  type: NodePort
  selector: {app: upgrade-probe}
  ports: [{port: 80, targetPort: 8080, nodePort: %[2]d}]
`

// deployUpgradeProbe imports the probe image on every node and runs the probe Deployment,
// one pod on each worker.
func (c *scratchCluster) deployUpgradeProbe(t *testing.T) {
	c.importProbeImage(t)
	c.mustSh(c.master, "kubectl apply -f - <<'EOF'\n"+fmt.Sprintf(upgradeProbeManifests, artifacts.ProbeImage, upgradeProbePort)+"\nEOF")
	if out, err := c.kubectl("rollout status deployment/upgrade-probe --timeout=180s"); err != nil {
		t.Fatalf("deployment upgrade-probe: %v\n%s", err, out)
	}
	c.eventually("a probe pod on each worker", time.Minute, func() error {
		out, err := c.kubectl("get pods -l app=upgrade-probe -o jsonpath='{range .items[*]}{.spec.nodeName}{\"\\n\"}{end}'")
		if err != nil {
			return err
		}
		nodes := strings.Fields(out)
		sort.Strings(nodes)
		want := []string{c.workers[0].Name, c.workers[1].Name}
		sort.Strings(want)
		if strings.Join(nodes, " ") != strings.Join(want, " ") {
			return fmt.Errorf("probe pods on %v, want one on each of %v", nodes, want)
		}
		return nil
	})
	for _, h := range c.hosts() {
		c.eventually("the Service through "+h.Name+"'s NodePort", time.Minute, func() error {
			return probeOnce(h)
		})
	}
}

// probeOnce asks the probe Service through h's NodePort.
func probeOnce(h *lab.Host) error {
	client := &http.Client{Timeout: time.Second}
	resp, err := client.Get(fmt.Sprintf("http://%s:%d/", h.Address, upgradeProbePort))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "probe upgrade-probe-") {
		return fmt.Errorf("%s: %q", resp.Status, body)
	}
	return nil
}

// prober asks the probe Service every 200 ms, through each node's NodePort in turn.
type prober struct {
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	total    int
	failures []string
}

func (c *scratchCluster) startProber(ctx context.Context) *prober {
	ctx, cancel := context.WithCancel(ctx)
	p := &prober{cancel: cancel, done: make(chan struct{})}
	hosts := c.hosts()
	go func() {
		defer close(p.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			h := hosts[i%len(hosts)]
			err := probeOnce(h)
			p.mu.Lock()
			p.total++
			if err != nil {
				p.failures = append(p.failures, fmt.Sprintf("%s via %s: %v", time.Now().UTC().Format("15:04:05.000"), h.Name, err))
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// stop ends the probing and returns how many probes failed, of how many, and each failure.
func (p *prober) stop() (failed, total int, failures []string) {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.failures), p.total, p.failures
}

// logPhases logs, for each task, the wall time from its first node's start to its last
// node's end in the run (nodes up to date are left out), with each node's own time.
func logPhases(t *testing.T, r *planRun, tasks []string) {
	type span struct{ start, end time.Time }
	nodes := map[string]*span{}
	for _, ev := range r.events {
		switch ev.Kind {
		case executor.EventNodeStarted:
			nodes[ev.Node] = &span{start: ev.Time}
		case executor.EventNodeFinished:
			if s := nodes[ev.Node]; s != nil && ev.Status != executor.StatusUpToDate {
				s.end = ev.Time
			}
		}
	}
	for _, task := range tasks {
		var first, last time.Time
		var each []string
		ids := make([]string, 0, len(nodes))
		for id := range nodes {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			s := nodes[id]
			if !strings.HasPrefix(id, task+"[") || s.end.IsZero() {
				continue
			}
			if first.IsZero() || s.start.Before(first) {
				first = s.start
			}
			if s.end.After(last) {
				last = s.end
			}
			each = append(each, fmt.Sprintf("%s %s", strings.TrimSuffix(strings.TrimPrefix(id, task+"["), "]"), s.end.Sub(s.start).Round(100*time.Millisecond)))
		}
		if first.IsZero() {
			t.Logf("phase %s: did not run", task)
			continue
		}
		t.Logf("phase %s: %s (%s)", task, last.Sub(first).Round(100*time.Millisecond), strings.Join(each, ", "))
	}
}

// rolloutOf gathers, from a run's events, the node_upgrade nodes in the order they started,
// each one's output (both streams) and how it ended.
func rolloutOf(r *planRun) (order []string, out map[string]string, end map[string]executor.Event) {
	out, end = map[string]string{}, map[string]executor.Event{}
	for _, ev := range r.events {
		if ev.Task != "node_upgrade" {
			continue
		}
		switch ev.Kind {
		case executor.EventNodeStarted:
			order = append(order, ev.Host)
		case executor.EventStepOutput:
			out[ev.Host] += ev.Text + "\n"
		case executor.EventNodeFinished:
			end[ev.Host] = ev
		}
	}
	return order, out, end
}

// rolledOut are the lines a node's rollout says when it drained, restarted and uncordoned it.
var rolledOut = []string{"to restart: containerd kubelet kube-proxy", "drained", "containerd restarted", "kubelet restarted", "kube-proxy restarted", "Ready, kubelet " + artifacts.KubernetesVersion, "uncordoned"}

func requireSaid(t *testing.T, host, text string, lines []string) {
	t.Helper()
	for _, w := range lines {
		if !strings.Contains(text, w) {
			t.Errorf("node_upgrade[%s] did not say %q:\n%s", host, w, text)
		}
	}
}

// checkHeldUp: the run whose first worker's drain the PodDisruptionBudget held up. The master
// rolled and stayed cordoned (its operator had cordoned it); the first worker failed, uncordoned and untouched; the second was not started; the
// ServiceAccount stays (the revocation depends on every node's rollout).
func (c *scratchCluster) checkHeldUp(t *testing.T, r *planRun) {
	t.Run("held-up", func(t *testing.T) {
		c := c.with(t)
		if r.exit != 1 {
			t.Errorf("exit %d, want 1 (a node's rollout failed)", r.exit)
		}
		w1, w2 := c.workers[0], c.workers[1]
		order, out, end := rolloutOf(r)
		for _, h := range c.hosts() {
			t.Logf("node_upgrade[%s] %s %s; said:\n%s", h.Alias, end[h.Alias].Status, end[h.Alias].Reason, out[h.Alias])
		}
		if want := []string{c.master.Alias, w1.Alias}; strings.Join(order, " ") != strings.Join(want, " ") {
			t.Errorf("node_upgrade started on %v, want %v (the rolling stops after the failed batch)", order, want)
		}
		if ev := end[c.master.Alias]; ev.Status != executor.StatusChanged {
			t.Errorf("node_upgrade[%s] is %s, want changed", c.master.Alias, ev.Status)
		}
		// cordoned by its operator: drained and restarted, not uncordoned
		requireSaid(t, c.master.Alias, out[c.master.Alias], rolledOut[:len(rolledOut)-1])
		if strings.Contains(out[c.master.Alias], "uncordoned") {
			t.Errorf("node_upgrade[%s] uncordoned a node its operator had cordoned", c.master.Alias)
		}
		if got, err := c.kubectl("get node " + c.master.Name + " -o jsonpath='{.spec.unschedulable}'"); err != nil || strings.TrimSpace(got) != "true" {
			t.Errorf("%s, cordoned by its operator before the run, is no longer: unschedulable %q %v", c.master.Name, got, err)
		}
		if ev := end[w1.Alias]; ev.Status != executor.StatusFailed {
			t.Errorf("node_upgrade[%s] is %s, want failed (its drain held up)", w1.Alias, ev.Status)
		}
		requireSaid(t, w1.Alias, out[w1.Alias], []string{"Cannot evict pod as it would violate the pod's disruption budget", "the drain did not finish within 15s", "nothing was restarted, the node is uncordoned"})
		if ev := r.node(t, "node_upgrade["+w2.Alias+"]"); ev.Status != executor.StatusSkipped || !strings.Contains(ev.Reason, "not started: rolling task node_upgrade stopped after batch 2 of 3") {
			t.Errorf("node_upgrade[%s] is %s %q, want skipped, not started after batch 2", w2.Alias, ev.Status, ev.Reason)
		}
		if ev := r.node(t, "node_upgrade_revoke["+c.master.Alias+"]"); ev.Status != executor.StatusSkipped {
			t.Errorf("node_upgrade_revoke is %s, want skipped", ev.Status)
		}
		if v := c.kubeletVersion(w1); v != artifacts.PreviousKubernetesVersion {
			t.Errorf("%s: kubelet %s after its failed rollout, want still %s", w1.Name, v, artifacts.PreviousKubernetesVersion)
		}
		out1, err := c.kubectl("get node " + w1.Name + " -o jsonpath='{.spec.unschedulable} {.metadata.annotations.scratch\\.plan/cordoned-for-upgrade}'")
		if err != nil || strings.TrimSpace(out1) != "" {
			t.Errorf("%s after its failed drain (unschedulable, cordoned-for-upgrade): %q %v, want schedulable", w1.Name, out1, err)
		}
		if _, err := c.kubectl("-n kube-system get serviceaccount plan-node-upgrade"); err != nil {
			t.Errorf("the rollout's ServiceAccount is gone after a failed rollout: %v", err)
		}
	})
}

// checkDrained: the run that finished the rollout rolled the nodes one at a time (the default
// batch of 1) in the order master, workers; the master, done in the run before, was not
// drained again; each worker was drained, restarted and uncordoned.
func (c *scratchCluster) checkDrained(t *testing.T, r *planRun) {
	t.Run("rollout", func(t *testing.T) {
		order, out, end := rolloutOf(r)
		want := append([]string{c.master.Alias}, aliases(c.workers)...)
		if strings.Join(order, " ") != strings.Join(want, " ") {
			t.Errorf("node_upgrade ran on %v, want one after the other %v", order, want)
		}
		for _, h := range c.hosts() {
			ev, text := end[h.Alias], out[h.Alias]
			t.Logf("node_upgrade[%s] %s; said:\n%s", h.Alias, ev.Status, text)
			if h == c.master {
				if ev.Status != executor.StatusOK || strings.Contains(text, "drain") {
					t.Errorf("node_upgrade[%s] is %s, want ok with nothing done (rolled out in the run before):\n%s", h.Alias, ev.Status, text)
				}
				continue
			}
			if ev.Status != executor.StatusChanged {
				t.Errorf("node_upgrade[%s] is %s, want changed", h.Alias, ev.Status)
			}
			requireSaid(t, h.Alias, text, rolledOut)
		}
		// One node at a time: each started after the one before it ended.
		var prevEnd time.Time
		for _, ev := range r.events {
			if ev.Task != "node_upgrade" {
				continue
			}
			if ev.Kind == executor.EventNodeStarted && ev.Time.Before(prevEnd) {
				t.Errorf("node_upgrade[%s] started before the node before it ended", ev.Host)
			}
			if ev.Kind == executor.EventNodeFinished {
				prevEnd = ev.Time
			}
		}
	})
}

// checkUpgraded: everything runs the new versions, every node Ready and schedulable.
func (c *scratchCluster) checkUpgraded(t *testing.T) {
	t.Run("upgraded", func(t *testing.T) {
		c := c.with(t)
		k8s, etcdV, ctrdV := artifacts.KubernetesVersion, strings.TrimPrefix(artifacts.EtcdVersion, "v"), artifacts.ContainerdVersion
		var v struct {
			GitVersion string `json:"gitVersion"`
		}
		if out, err := c.kubectl("get --raw /version"); err != nil || json.Unmarshal([]byte(out), &v) != nil || v.GitVersion != k8s {
			t.Errorf("the API server's /version: %q %v, want gitVersion %s", out, err, k8s)
		}
		out := c.mustSh(c.master, "/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd-ca.crt --cert=/etc/kubernetes/pki/etcd-client.crt --key=/etc/kubernetes/pki/etcd-client.key endpoint status -w json")
		if !strings.Contains(out, `"version":"`+etcdV+`"`) {
			t.Errorf("etcd's endpoint status does not say version %s:\n%s", etcdV, out)
		}
		for _, h := range c.hosts() {
			if got := c.kubeletVersion(h); got != k8s {
				t.Errorf("%s: kubelet %s, want %s", h.Name, got, k8s)
			}
			out := c.mustSh(h, "/usr/local/bin/ctr version 2>/dev/null | sed -n '/^Server:/,$p' | awk '$1 == \"Version:\" {print $2}'")
			if strings.TrimSpace(out) != ctrdV {
				t.Errorf("%s: the running containerd is %q, want %s", h.Name, strings.TrimSpace(out), ctrdV)
			}
			units := "containerd kubelet kube-proxy"
			if c.isMaster(h) {
				units += " etcd kube-apiserver kube-controller-manager kube-scheduler"
			}
			if out, err := c.sh(h, "for u in "+units+"; do p=$(systemctl show -p MainPID --value $u); [ \"$p\" != 0 ] && [ \"$(stat -L -c %d:%i /proc/$p/exe)\" = \"$(stat -c %d:%i /usr/local/bin/$u)\" ] || echo \"$u does not run /usr/local/bin/$u\"; done; /usr/local/bin/kube-proxy --version"); err != nil || !strings.Contains(out, "Kubernetes "+k8s) || strings.Contains(out, "does not run") {
				t.Errorf("%s: %v\n%s", h.Name, err, out)
			}
		}
		out, err := c.kubectl("get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.unschedulable} {.status.conditions[?(@.type==\"Ready\")].status} {.metadata.annotations.scratch\\.plan/cordoned-for-upgrade}{\"\\n\"}{end}'")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) != 2 || f[1] != "True" {
				t.Errorf("node (name, unschedulable, Ready, cordoned-for-upgrade): %q, want Ready and schedulable", line)
			}
		}
		if out, err := c.kubectl("-n kube-system get serviceaccount plan-node-upgrade"); err == nil {
			t.Errorf("the rollout's ServiceAccount is still there (its tokens are valid):\n%s", out)
		}
		if out, err := c.kubectl("get pods -l app=upgrade-probe -o wide"); err == nil {
			t.Logf("probe pods after the upgrade:\n%s", out)
		}
	})
}

// jwtRE finds JSON Web Tokens (ServiceAccount tokens) in text.
var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// rolloutTokens returns the JWTs in text whose subject is the rollout's ServiceAccount.
func rolloutTokens(text []byte) []string {
	var found []string
	for _, tok := range jwtRE.FindAll(text, -1) {
		parts := bytes.Split(tok, []byte("."))
		payload, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
		if err != nil {
			continue
		}
		var claims struct {
			Sub string `json:"sub"`
		}
		if json.Unmarshal(payload, &claims) == nil && claims.Sub == "system:serviceaccount:kube-system:plan-node-upgrade" {
			found = append(found, string(tok[:12])+"...")
		}
	}
	return found
}

// checkTokenNowhere: no token of the rollout's ServiceAccount appears in plan's output, in the
// logs or the run state, or in any file on the hosts (pods' own tokens included in the search:
// they belong to other ServiceAccounts); the rollout's private directories are gone.
func (c *scratchCluster) checkTokenNowhere(t *testing.T) {
	t.Run("token-nowhere", func(t *testing.T) {
		c := c.with(t)
		// The detector itself, on a token of that subject (made up, unsigned).
		fake := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"system:serviceaccount:kube-system:plan-node-upgrade"}`)) + ".c2ln"
		if len(rolloutTokens([]byte("x "+fake+" y"))) != 1 {
			t.Fatal("the token detector does not find a rollout token")
		}
		if found := rolloutTokens([]byte(c.outputs.String())); len(found) > 0 {
			t.Errorf("a rollout token in plan's output: %v", found)
		}
		files := 0
		err := filepath.WalkDir(c.work, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			if found := rolloutTokens(b); len(found) > 0 {
				t.Errorf("a rollout token in %s: %v", path, found)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files < 10 {
			t.Errorf("only %d files under %s: where are the logs and the run state?", files, c.work)
		}
		for _, h := range c.hosts() {
			out, err := c.sh(h, "ls -d /run/plan-node-upgrade.* 2>/dev/null; grep -rhoasE 'eyJ[A-Za-z0-9_-]+[.][A-Za-z0-9_-]+[.][A-Za-z0-9_-]+' --exclude-dir=containerd /etc /var/log /var/lib /tmp /var/tmp /root /home /run 2>/dev/null; true")
			if err != nil {
				t.Errorf("%s: %v", h.Name, err)
			}
			if strings.Contains(out, "/run/plan-node-upgrade.") {
				t.Errorf("%s: the rollout's private directory is left: %s", h.Name, out)
			}
			if found := rolloutTokens([]byte(out)); len(found) > 0 {
				t.Errorf("%s: a rollout token in a file: %v", h.Name, found)
			}
		}
	})
}
