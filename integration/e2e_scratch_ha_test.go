package integration

// The proof of the highly available control plane (issue #16): three masters and a worker,
// grown from one master by re-running the plan, every node reaching the API servers through
// its own HAProxy. The first master's host is powered off (the lab's power cut: link down,
// every process killed) and the test measures what an operator would: etcd keeps a quorum, the
// API answers through the other masters, the leader leases move, the worker stays Ready, a new
// Deployment runs and serves through a Service, DNS answers. The host comes back, the cluster
// heals, re-runs change nothing, and a change to etcd's configuration rolls through the members
// with at least two healthy at every moment, sampled while it happens.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
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

// haBound bounds each failover check after the power-off (and each recovery check after the
// power-on). Measured here: seconds to about a minute (docs/proof.md); the node controller
// alone waits 50 s before it calls a silent node NotReady.
const haBound = 4 * time.Minute

// lbPort is the scratch plan's default api_lb_port.
const lbPort = "6444"

// TestScratchHA logs in as root on plain lab hosts: the other two proofs run as sudo users on
// Oracle-Linux-like hosts, so this one keeps the root path covered.
func TestScratchHA(t *testing.T) {
	c, ctx := newScratchCluster(t, 4, lab.UserRoot, lab.HostProfile{})
	all := c.l.Hosts
	c.masters, c.workers = all[:1], all[3:]

	// 1. One master and the worker, then three masters by re-running the plan with them: the
	// new members join etcd, get their certificates, and every load balancer is updated.
	r1, d1 := c.run(ctx, scratchFirstRunTimeout, nil)
	c.requireSuccess(r1, "first run (one master)")
	t.Logf("%s first run, one master + one worker: %s", since(c.start), d1.Round(time.Second))
	// The growth run makes a new bootstrap token for the new masters (the first one's Secret
	// is gone once every node joined); the nodes there already joined with this one.
	if id, _, ok := strings.Cut(strings.TrimSpace(c.mustSh(c.master, "cat /etc/kubernetes/bootstrap-token")), "."); ok {
		c.earlierTokenIDs = append(c.earlierTokenIDs, id)
	}
	c.masters = all[:3]
	r2, d2 := c.run(ctx, scratchFirstRunTimeout, nil)
	c.requireSuccess(r2, "growth run (three masters)")
	t.Logf("%s growth run to three masters: %s", since(c.start), d2.Round(time.Second))
	for _, n := range []string{"api_lb[" + c.master.Alias + "]", "api_lb[" + c.workers[0].Alias + "]"} {
		if ev := r2.node(t, n); ev.Status != executor.StatusChanged {
			t.Errorf("growth run: %s is %s, want changed (its load balancer gets the new masters)", n, ev.Status)
		}
	}
	if report := c.checksReport(r2); report != "" {
		t.Logf("the plan's own checks:\n%s", report)
	}

	// 2. Every check of the proof, then the load balancers themselves.
	c.checkCluster(t)
	c.checkLoadBalancers(t)
	c.logMemory(t)

	// 3. Every node runs again and finds nothing to do.
	r3, d3 := c.run(ctx, scratchReRunTimeout, nil, "--force")
	c.requireSuccess(r3, "--force run")
	c.requireNothingChanged(r3)
	t.Logf("%s --force run: %s, nothing changed", since(c.start), d3.Round(time.Second))

	// 4. The first master's host loses power.
	c.failover(ctx, t)

	// 5. It comes back; the cluster heals; re-runs change nothing.
	c.recoverFirstMaster(ctx, t)

	// 6. A change to etcd's configuration rolls through the members.
	c.rollEtcd(ctx, t)

	// 7. Every leaf certificate is renewed on the three masters and the worker; the units
	// that read them restart one master at a time.
	c.renewCertificates(ctx, t)

	// 8. A master leaves the cluster and joins it again.
	c.removeAndReaddMaster(ctx, t)
	t.Logf("%s HA proof done", since(c.start))
}

// removeAndReaddMaster takes the third master out with scratch-remove (cordoned, drained, its
// Node deleted, its etcd member removed, the host reset), re-runs the scratch plan without it
// (every load balancer forgets it), then with it again: the reset host has a new install id,
// so every task on it runs again although the run state holds its first installation; it
// joins etcd as a new member and the load balancers take it back.
func (c *scratchCluster) removeAndReaddMaster(ctx context.Context, t *testing.T) {
	all := c.masters
	gone := all[2]
	rm, d := c.runPlan(ctx, scratchReRunTimeout, nil, []string{"scratch-remove", "-F", c.l.SSHConfig,
		"-H", "masters=" + c.master.Alias, "-H", "remove=" + gone.Alias})
	c.requireSuccess(rm, "scratch-remove (a master)")
	t.Logf("%s scratch-remove of master %s: %s", since(c.start), gone.Alias, d.Round(time.Second))
	if healthy, unhealthy := c.etcdHealth(c.master); healthy != 2 || unhealthy != 0 {
		t.Errorf("etcd after removing a master: %d healthy, %d unhealthy members; want 2 and 0", healthy, unhealthy)
	}
	if out := c.mustSh(c.master, etcdctl+" member list -w simple"); strings.Contains(out, gone.Name) || strings.Contains(out, "https://"+gone.Address+":2380") {
		t.Errorf("the removed master is still an etcd member:\n%s", out)
	}
	if out, err := c.kubectl("get node " + gone.Name); err == nil {
		t.Errorf("the removed master's Node is still in the cluster: %s", out)
	}
	if out, _ := c.sh(gone, "ls -d /var/lib/etcd /etc/kubernetes /var/lib/scratch/install-id 2>&1"); strings.Count(out, "No such file") != 3 {
		t.Errorf("the removed master's host was not reset: %s", out)
	}

	c.masters = all[:2]
	r, d := c.run(ctx, scratchReRunTimeout, nil)
	c.requireSuccess(r, "scratch run without the removed master")
	t.Logf("%s scratch run without it: %s, %d changed", since(c.start), d.Round(time.Second), r.summary(t).Changed)
	for _, h := range append(append([]*lab.Host{}, c.masters...), c.workers...) {
		c.eventually(h.Name+"'s load balancer forgets "+gone.Name, haBound, func() error {
			st, err := c.lbStatus(h)
			if err != nil || len(st) != 2 || st[gone.Alias] != "" {
				return fmt.Errorf("%v %v", err, st)
			}
			return nil
		})
	}

	c.masters = all
	r, d = c.run(ctx, scratchFirstRunTimeout, nil)
	c.requireSuccess(r, "scratch run with the master back")
	var upToDate []string
	ran := 0
	for _, ev := range r.events {
		if ev.Kind != executor.EventNodeFinished || !strings.HasSuffix(ev.Node, "["+gone.Alias+"]") {
			continue
		}
		ran++
		if ev.Status == executor.StatusUpToDate {
			upToDate = append(upToDate, ev.Node)
		}
	}
	if ran == 0 || len(upToDate) > 0 {
		t.Errorf("the reset master's nodes: %d in the run, taken for up to date: %v (its earlier installation is in the run state)", ran, upToDate)
	}
	t.Logf("%s scratch run with %s back: %s, %d nodes ran there", since(c.start), gone.Alias, d.Round(time.Second), ran)
	c.eventually("etcd 3 of 3 members healthy again", haBound, func() error {
		if healthy, unhealthy := c.etcdHealth(c.master); healthy != 3 || unhealthy != 0 {
			return fmt.Errorf("%d healthy, %d unhealthy", healthy, unhealthy)
		}
		return nil
	})
	c.eventually(gone.Name+"'s node Ready again", haBound, func() error {
		out, err := c.kubectl("get node " + gone.Name + " -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'")
		if err != nil || strings.TrimSpace(out) != "True" {
			return fmt.Errorf("%v %q", err, out)
		}
		return nil
	})
	for _, h := range c.hosts() {
		c.eventually(h.Name+"'s load balancer sees "+gone.Name+" up", haBound, func() error {
			st, err := c.lbStatus(h)
			if err != nil || st[gone.Alias] != "UP" {
				return fmt.Errorf("%v %v", err, st)
			}
			return nil
		})
	}
	t.Logf("%s %s is back: etcd 3 of 3, node Ready, every load balancer sees it up", since(c.start), gone.Alias)
}

// checkLoadBalancers checks that every node reaches the API through its own load balancer:
// the kubeconfigs of kubelet, kube-proxy and the bootstrap point at it, flannel too, and each
// load balancer sees every API server up (its health checks pass with anonymous auth off).
func (c *scratchCluster) checkLoadBalancers(t *testing.T) {
	want := "https://127.0.0.1:" + lbPort
	for _, h := range c.hosts() {
		for _, f := range []string{"/etc/kubernetes/kubelet.kubeconfig", "/etc/kubernetes/kube-proxy.kubeconfig", "/etc/kubernetes/bootstrap.kubeconfig"} {
			out := c.mustSh(h, "sed -n 's/^ *server: //p' "+f)
			if strings.TrimSpace(out) != want {
				t.Errorf("%s: %s has server %q, want %s", h.Name, f, strings.TrimSpace(out), want)
			}
		}
		c.eventually(h.Name+": its load balancer sees every API server up", time.Minute, func() error {
			st, err := c.lbStatus(h)
			if err != nil {
				return err
			}
			for _, m := range c.masters {
				if st[m.Alias] != "UP" {
					return fmt.Errorf("servers: %v", st)
				}
			}
			return nil
		})
	}
	env := c.mustSh(c.adminHost(), "kubectl -n kube-flannel get ds kube-flannel-ds -o jsonpath='{range .spec.template.spec.containers[0].env[*]}{.name}={.value}{\"\\n\"}{end}'")
	if !strings.Contains(env, "KUBERNETES_SERVICE_HOST=127.0.0.1\n") || !strings.Contains(env, "KUBERNETES_SERVICE_PORT="+lbPort+"\n") {
		t.Errorf("flannel does not use the node's load balancer; env:\n%s", env)
	}
	t.Logf("every node's kubelet, kube-proxy, bootstrap kubeconfig and flannel use %s; every load balancer sees %d API servers up", want, len(c.masters))
}

// lbStatus is what h's load balancer thinks of each server: server name (the master's alias)
// to HAProxy's status (UP, DOWN, ...), from its stats socket. The unchecked backups are left out.
func (c *scratchCluster) lbStatus(h *lab.Host) (map[string]string, error) {
	out, err := c.sh(h, "echo 'show stat' | socat stdio UNIX-CONNECT:/run/kube-apiserver-lb.sock")
	if err != nil {
		return nil, err
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# "))).ReadAll()
	if err != nil || len(rows) < 2 {
		return nil, fmt.Errorf("show stat: %v: %q", err, out)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	st := map[string]string{}
	for _, r := range rows[1:] {
		if len(r) <= col["status"] || r[col["pxname"]] != "kube-apiserver" || strings.HasSuffix(r[col["svname"]], "-unchecked") ||
			r[col["svname"]] == "BACKEND" || r[col["svname"]] == "FRONTEND" {
			continue
		}
		st[r[col["svname"]]] = r[col["status"]]
	}
	return st, nil
}

// logMemory logs how much memory each host's processes use (its memory cgroup).
func (c *scratchCluster) logMemory(t *testing.T) {
	var total, totalCache int64
	var parts []string
	for _, h := range c.hosts() {
		rss, cache := int64(-1), int64(-1)
		for _, d := range h.Cgroups {
			if b, err := os.ReadFile(filepath.Join(d, "memory.stat")); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					var v int64
					if _, err := fmt.Sscanf(line, "total_rss %d", &v); err == nil {
						rss = v
					}
					if _, err := fmt.Sscanf(line, "total_cache %d", &v); err == nil {
						cache = v
					}
				}
			}
		}
		if rss < 0 {
			t.Logf("memory: no memory cgroup statistics for %s", h.Name)
			return
		}
		total += rss
		totalCache += cache
		role := "worker"
		if c.isMaster(h) {
			role = "master"
		}
		parts = append(parts, fmt.Sprintf("%s (%s) %d MiB", h.Name, role, rss>>20))
	}
	t.Logf("memory (RSS of each host's processes): %s; total %d MiB, plus %d MiB page cache", strings.Join(parts, ", "), total>>20, totalCache>>20)
}

// failover powers the first master's host off and measures, from that moment, how long each
// part of the cluster takes to work without it.
func (c *scratchCluster) failover(ctx context.Context, t *testing.T) {
	cp1, w := c.masters[0], c.workers[0]
	live := c.masters[1:]
	c.admin = live[0]
	before := c.leaseHolders(t)
	t.Logf("leases before the power cut: %v", before)

	// The worker's Ready condition, sampled until the outage checks are done (and when the
	// node controller gives up on the first master's node).
	stopNode := make(chan struct{})
	var nodeMu sync.Mutex
	nodeSamples, notReady := 0, []string{}
	var cp1NotReady time.Time
	nodeDone := make(chan struct{})
	go func() {
		defer close(nodeDone)
		for {
			out, err := c.kubectl("get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}'")
			if err == nil {
				nodeMu.Lock()
				nodeSamples++
				status := map[string]string{}
				for _, line := range strings.Fields(out) {
					name, st, _ := strings.Cut(line, "=")
					status[name] = st
				}
				if status[w.Name] != "True" {
					notReady = append(notReady, fmt.Sprintf("%s Ready=%q", time.Now().Format("15:04:05"), status[w.Name]))
				}
				if cp1NotReady.IsZero() && status[cp1.Name] != "" && status[cp1.Name] != "True" {
					cp1NotReady = time.Now()
				}
				nodeMu.Unlock()
			}
			select {
			case <-stopNode:
				return
			case <-time.After(2 * time.Second):
			}
		}
	}()

	t0 := time.Now()
	if err := c.l.PowerOff(cp1); err != nil {
		t.Fatalf("power off %s: %v", cp1.Name, err)
	}
	t.Logf("%s %s powered off", since(c.start), cp1.Name)
	at := func() string { return time.Since(t0).Round(100 * time.Millisecond).String() }
	figures := map[string]time.Duration{}
	mark := func(what string) {
		figures[what] = time.Since(t0)
		t.Logf("+%s %s", at(), what)
	}

	// The API through the worker's load balancer: requests one after another, each bounded,
	// for as long as the outage checks run.
	type try struct {
		at, took time.Duration
		ok       bool
		out      string // what a failed request said
	}
	var apiMu sync.Mutex
	var tries []try
	stopAPI := make(chan struct{})
	apiDone := make(chan struct{})
	go func() {
		defer close(apiDone)
		for {
			start := time.Now()
			out, _ := c.sh(w, "curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert "+pki+"/ca.crt "+
				"--cert /var/lib/kube-proxy/kube-proxy.crt --key /var/lib/kube-proxy/kube-proxy.key 'https://127.0.0.1:"+lbPort+"/api/v1/nodes?limit=1' 2>&1")
			apiMu.Lock()
			tries = append(tries, try{at: start.Sub(t0), took: time.Since(start), ok: strings.TrimSpace(out) == "200", out: strings.TrimSpace(out)})
			apiMu.Unlock()
			select {
			case <-stopAPI:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()

	c.eventually("the API answers through the worker's load balancer", haBound, func() error {
		apiMu.Lock()
		defer apiMu.Unlock()
		for _, tr := range tries {
			if tr.ok {
				return nil
			}
		}
		return fmt.Errorf("%d requests, none answered", len(tries))
	})
	mark("the API answers through the worker's load balancer")

	c.eventually("the worker's load balancer takes "+cp1.Name+" out", haBound, func() error {
		st, err := c.lbStatus(w)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(st[cp1.Alias], "DOWN") {
			return fmt.Errorf("servers: %v", st)
		}
		return nil
	})
	mark("the worker's load balancer marks " + cp1.Name + " DOWN")

	c.eventually("etcd 2 of 3 members healthy", haBound, func() error {
		healthy, unhealthy := c.etcdHealth(live[0])
		if healthy != 2 || unhealthy != 1 {
			return fmt.Errorf("%d healthy, %d unhealthy", healthy, unhealthy)
		}
		return nil
	})
	mark("etcd: 2 of 3 members healthy, 1 unhealthy")

	for _, m := range live {
		c.eventually("the API server on "+m.Name+" ready", haBound, func() error {
			out, err := c.sh(m, "curl -fsS --max-time 5 --cacert "+pki+"/ca.crt --cert "+pki+"/admin.crt --key "+pki+"/admin.key https://127.0.0.1:6443/readyz")
			if err != nil || strings.TrimSpace(out) != "ok" {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
	}
	mark("the API servers of the other masters ready")

	c.eventually("the leader leases held by a live master", haBound, func() error {
		for name, holder := range c.leaseHolders(t) {
			if holder.host == cp1.Name || holder.host == "" || holder.renewed.Before(t0) {
				return fmt.Errorf("lease %s: %+v", name, holder)
			}
		}
		return nil
	})
	after := c.leaseHolders(t)
	mark(fmt.Sprintf("leases held by live masters (controller-manager: %s → %s, scheduler: %s → %s)",
		before["kube-controller-manager"].host, after["kube-controller-manager"].host, before["kube-scheduler"].host, after["kube-scheduler"].host))

	// A new Deployment and Service, created while the first master is down.
	c.mustSh(c.admin, "kubectl apply -f - <<'EOF'\n"+fmt.Sprintf(haManifests, artifacts.ProbeImage)+"\nEOF")
	mark("Deployment ha-echo and Service created")
	var pod string
	c.eventually("a pod of the new Deployment running and ready", haBound, func() error {
		pods, err := c.pods("-l app=ha-echo")
		if err != nil {
			return err
		}
		for _, p := range pods.Items {
			ready := p.Status.Phase == "Running" && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].Ready
			if ready && p.Spec.NodeName != cp1.Name {
				pod = p.Metadata.Name + " on " + p.Spec.NodeName
				return nil
			}
		}
		return fmt.Errorf("no ready pod yet (%d pods)", len(pods.Items))
	})
	mark("a pod of the new Deployment runs and is ready (" + pod + ")")
	clusterIP := strings.TrimSpace(c.mustSh(c.admin, "kubectl get service ha-echo -o jsonpath='{.spec.clusterIP}'"))
	answer := regexp.MustCompile(`^probe ha-echo-[a-z0-9]+-[a-z0-9]+$`)
	c.eventually("the new Service answers from the worker (by ClusterIP)", haBound, func() error {
		out, err := c.sh(w, "curl -sS --max-time 5 http://"+clusterIP+"/")
		if err != nil || !answer.MatchString(strings.TrimSpace(out)) {
			return fmt.Errorf("from %s: %v %q", w.Name, err, out)
		}
		return nil
	})
	mark("the new Service answers from the worker by ClusterIP")
	// By name from a pod needs CoreDNS through the kube-dns Service: a CoreDNS pod on the
	// dead master stays among its endpoints until the node controller marks that node
	// NotReady (node-monitor-grace-period), and lookups sent to it time out.
	c.eventually("the new Service answers from a pod (by name)", haBound, func() error {
		out, err := c.kubectl("exec probe-a -- /probe get http://ha-echo.default.svc.cluster.local/")
		if err != nil || !answer.MatchString(strings.TrimSpace(out)) {
			return fmt.Errorf("from pod probe-a: %v %q", err, out)
		}
		return nil
	})
	mark("the new Service answers from a pod by name")
	c.eventually("DNS from a pod", haBound, func() error {
		out, err := c.kubectl("exec probe-a -- /probe lookup kubernetes.default.svc.cluster.local")
		if err != nil || strings.TrimSpace(out) != "10.96.0.1" {
			return fmt.Errorf("kubernetes.default: %v %q", err, out)
		}
		out, err = c.kubectl("exec probe-a -- /probe lookup ha-echo.default.svc.cluster.local")
		if err != nil || strings.TrimSpace(out) != clusterIP {
			return fmt.Errorf("ha-echo: %v %q, want %s", err, out, clusterIP)
		}
		return nil
	})
	mark("DNS from a pod answers (kubernetes.default and the new Service)")

	close(stopAPI)
	close(stopNode)
	<-apiDone
	<-nodeDone
	// The worker never left Ready.
	if len(notReady) > 0 {
		t.Errorf("the worker %s was not Ready during the outage: %v", w.Name, notReady)
	}
	t.Logf("the worker stayed Ready: %d samples over %s", nodeSamples, at())
	// How the API behaved through the worker's load balancer.
	failed, slowest, lastFail := 0, time.Duration(0), time.Duration(-1)
	for _, tr := range tries {
		if !tr.ok {
			failed++
			lastFail = tr.at
			t.Logf("a request through the worker's load balancer failed: started +%s, took %s: %s", tr.at.Round(100*time.Millisecond), tr.took.Round(100*time.Millisecond), tr.out)
		}
		slowest = max(slowest, tr.took)
	}
	t.Logf("API through the worker's load balancer: %d requests in %s, %d failed (the last one started at +%s), slowest %s",
		len(tries), at(), failed, lastFail.Round(100*time.Millisecond), slowest.Round(100*time.Millisecond))
	if !cp1NotReady.IsZero() {
		figures[cp1.Name+"'s node no longer Ready (the node controller's grace period)"] = cp1NotReady.Sub(t0)
	}
	keys := make([]string, 0, len(figures))
	for k := range figures {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return figures[keys[i]] < figures[keys[j]] })
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  +%-6s %s", figures[k].Round(100*time.Millisecond), k)
	}
	t.Logf("failover figures (from the power cut):%s", b.String())
}

// haManifests: the Deployment and Service made while a master is down (probe image).
const haManifests = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ha-echo}
spec:
  replicas: 2
  selector: {matchLabels: {app: ha-echo}}
  template:
    metadata: {labels: {app: ha-echo}}
    spec:
      containers:
      - name: probe
        image: %s
        imagePullPolicy: Never
        args: [serve]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: ha-echo}
spec:
  selector: {app: ha-echo}
  ports: [{port: 80, targetPort: 8080}]
`

// recoverFirstMaster powers the first master on again and waits until the cluster is whole:
// etcd 3 of 3, its node Ready, every load balancer seeing it up; then a plain re-run and a
// --force re-run change nothing.
func (c *scratchCluster) recoverFirstMaster(ctx context.Context, t *testing.T) {
	cp1 := c.masters[0]
	t0 := time.Now()
	if err := c.l.PowerOn(ctx, cp1); err != nil {
		t.Fatalf("power on %s: %v", cp1.Name, err)
	}
	t.Logf("%s %s powered on, sshd answering after %s", since(c.start), cp1.Name, time.Since(t0).Round(100*time.Millisecond))
	c.eventually("etcd 3 of 3 members healthy", haBound, func() error {
		if healthy, unhealthy := c.etcdHealth(c.masters[1]); healthy != 3 || unhealthy != 0 {
			return fmt.Errorf("%d healthy, %d unhealthy", healthy, unhealthy)
		}
		return nil
	})
	t.Logf("+%s etcd: 3 of 3 members healthy", time.Since(t0).Round(100*time.Millisecond))
	c.eventually(cp1.Name+"'s node Ready", haBound, func() error {
		out, err := c.kubectl("get node " + cp1.Name + " -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'")
		if err != nil || strings.TrimSpace(out) != "True" {
			return fmt.Errorf("%v %q", err, out)
		}
		return nil
	})
	t.Logf("+%s %s's node Ready", time.Since(t0).Round(100*time.Millisecond), cp1.Name)
	for _, h := range c.hosts() {
		c.eventually(h.Name+"'s load balancer sees "+cp1.Name+" up", haBound, func() error {
			st, err := c.lbStatus(h)
			if err != nil || st[cp1.Alias] != "UP" {
				return fmt.Errorf("%v %v", err, st)
			}
			return nil
		})
	}
	t.Logf("+%s every load balancer sees %s up", time.Since(t0).Round(100*time.Millisecond), cp1.Name)
	c.admin = nil

	r, d := c.run(ctx, scratchReRunTimeout, nil)
	c.requireSuccess(r, "plain re-run after the power-on")
	if s := r.summary(t); s.UpToDate != s.Nodes-c.alwaysRunNodes() || s.Changed != 0 {
		t.Errorf("plain re-run: %d of %d nodes up to date, %d changed; want all but the always_run tasks' up to date, none changed:\n%s",
			s.UpToDate, s.Nodes, s.Changed, strings.Join(notUpToDate(r), "\n"))
	}
	r, d2 := c.run(ctx, scratchReRunTimeout, nil, "--force")
	c.requireSuccess(r, "--force re-run after the power-on")
	c.requireNothingChanged(r)
	t.Logf("%s after the power-on: a plain re-run (%s) and a --force re-run (%s) changed nothing", since(c.start), d.Round(time.Second), d2.Round(time.Second))
}

// rollEtcd re-runs the plan with a changed etcd configuration while sampling every member's
// health from outside, and checks that the members restarted one at a time: never fewer than
// two healthy, each seen down, each running the new flag at the end.
func (c *scratchCluster) rollEtcd(ctx context.Context, t *testing.T) {
	const flag = "--snapshot-count=50000"
	invocations := map[string]string{}
	for _, m := range c.masters {
		invocations[m.Name] = strings.TrimSpace(c.mustSh(m, "systemctl show -p InvocationID --value etcd"))
	}
	client, err := c.etcdHTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	type sample struct {
		at      time.Time
		healthy map[string]bool
	}
	var samples []sample
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			s := sample{at: time.Now(), healthy: map[string]bool{}}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for _, m := range c.masters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// A second try at once: on a machine loaded far beyond its 2 cores, a
					// live member can miss one 5 s deadline; a stopped or restarting one
					// (down for seconds, refusing connections) fails both.
					ok := etcdLinearizableRead(client, m.Address) || etcdLinearizableRead(client, m.Address)
					mu.Lock()
					s.healthy[m.Name] = ok
					mu.Unlock()
				}()
			}
			wg.Wait()
			samples = append(samples, s)
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	time.Sleep(time.Second) // a few samples before the run
	r, d := c.run(ctx, scratchReRunTimeout, nil, "--var", `etcd_extra_args={"snapshot-count"="50000"}`)
	time.Sleep(time.Second)
	close(stop)
	<-done
	c.requireSuccess(r, "run with a new etcd configuration")

	// What the plan said while it rolled (templates/rolling-restart.sh prints each restart).
	var said []string
	for _, ev := range r.events {
		if ev.Kind == executor.EventStepOutput && ev.Task == "etcd" && ev.Step == "rollout" && strings.Contains(ev.Text, "etcd:") {
			said = append(said, ev.Node+": "+ev.Text)
		}
	}
	sort.Strings(said)
	t.Logf("the plan's rollout:\n  %s", strings.Join(said, "\n  "))
	changed := []string{}
	for _, ev := range r.events {
		if ev.Kind == executor.EventNodeFinished && ev.Status == executor.StatusChanged {
			changed = append(changed, ev.Node)
		}
	}
	sort.Strings(changed)
	want := []string{}
	for _, m := range c.masters {
		want = append(want, "etcd["+m.Alias+"]")
	}
	sort.Strings(want)
	if strings.Join(changed, " ") != strings.Join(want, " ") {
		t.Errorf("the run changed %v, want exactly %v", changed, want)
	}

	// The samples: never fewer than two members healthy; each member seen down.
	minHealthy, seenDown := len(c.masters), map[string]int{}
	var timeline []string
	prev := ""
	for _, s := range samples {
		n := 0
		var down []string
		for _, m := range c.masters {
			if s.healthy[m.Name] {
				n++
			} else {
				seenDown[m.Name]++
				down = append(down, m.Name)
			}
		}
		minHealthy = min(minHealthy, n)
		if state := strings.Join(down, ","); state != prev {
			timeline = append(timeline, fmt.Sprintf("%s %d healthy, down: [%s]", s.at.Format("15:04:05.0"), n, state))
			prev = state
		}
	}
	t.Logf("etcd health, %d samples over %s (each a linearizable read through the member, 5 s bound, tried twice):\n  %s",
		len(samples), d.Round(time.Second), strings.Join(timeline, "\n  "))
	if len(samples) < 20 {
		t.Errorf("only %d health samples while the configuration rolled", len(samples))
	}
	if minHealthy < 2 {
		t.Errorf("at some moment only %d etcd members were healthy, want at least 2", minHealthy)
	}
	for _, m := range c.masters {
		if seenDown[m.Name] == 0 {
			t.Errorf("etcd on %s was never seen down: did it restart while sampled?", m.Name)
		}
		inv := strings.TrimSpace(c.mustSh(m, "systemctl show -p InvocationID --value etcd"))
		if inv == invocations[m.Name] {
			t.Errorf("etcd on %s was not restarted", m.Name)
		}
		cmdline := c.mustSh(m, "tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value etcd)/cmdline")
		if !strings.Contains(cmdline, flag) {
			t.Errorf("etcd on %s runs without %s: %s", m.Name, flag, cmdline)
		}
	}
	t.Logf("%s etcd configuration rolled in %s; at least %d of %d members healthy at every sample", since(c.start), d.Round(time.Second), minHealthy, len(c.masters))
}

// etcdHealth counts the members `etcdctl endpoint health --cluster`, asked on h, finds
// healthy and unhealthy.
func (c *scratchCluster) etcdHealth(h *lab.Host) (healthy, unhealthy int) {
	out, _ := c.sh(h, etcdctl+" --dial-timeout=2s --command-timeout=5s endpoint health --cluster 2>&1")
	return strings.Count(out, "is healthy"), strings.Count(out, "is unhealthy")
}

// lease is who holds a leader lease and when it was last renewed.
type lease struct {
	host    string
	renewed time.Time
}

func (c *scratchCluster) leaseHolders(t *testing.T) map[string]lease {
	leases := map[string]lease{}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		out, err := c.kubectl("-n kube-system get lease " + name + " -o json")
		if err != nil {
			leases[name] = lease{}
			continue
		}
		var l struct {
			Spec struct {
				Holder    string    `json:"holderIdentity"`
				RenewTime time.Time `json:"renewTime"`
			} `json:"spec"`
		}
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Errorf("lease %s: %v", name, err)
		}
		leases[name] = lease{host: leaseHolderHost(l.Spec.Holder), renewed: l.Spec.RenewTime}
	}
	return leases
}

// etcdHTTPClient talks to etcd members from this machine with the etcd client certificate.
func (c *scratchCluster) etcdHTTPClient() (*http.Client, error) {
	dir := filepath.Join(c.masters[1].Root, pki) // not the first master's: any master has them
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "etcd-client.crt"), filepath.Join(dir, "etcd-client.key"))
	if err != nil {
		return nil, fmt.Errorf("etcd client certificate: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "etcd-ca.crt"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &http.Client{
		Timeout: 5 * time.Second, // etcdctl endpoint health's own --command-timeout
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots},
			DisableKeepAlives: true, // every sample dials: a restarted member must be seen
		},
	}, nil
}

// etcdLinearizableRead reports whether the member at addr serves a linearizable read (what
// `etcdctl endpoint health` asks: the member is up, part of a quorum, with a leader), through
// etcd's JSON gateway.
func etcdLinearizableRead(client *http.Client, addr string) bool {
	resp, err := client.Post("https://"+addr+":2379/v3/kv/range", "application/json", bytes.NewReader([]byte(`{"key":"aGVhbHRo"}`)))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"header"`))
}
