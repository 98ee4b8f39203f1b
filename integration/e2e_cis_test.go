package integration

// The CIS section of the scratch proof (issue #15): the hardening the plan claims, read on
// the running cluster from outside the plan. Flags come from the running processes' command
// lines (/proc/PID/cmdline), settings from the files the processes read, modes and owners
// from stat, and the behaviour from the API: profiling endpoints gone, Pod Security
// admission refusing a privileged pod and admitting a plain one.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/plan-dev/plan/integration/lab"
)

// proc is one running process as /proc shows it.
type proc struct {
	pid  string
	user string // the user name of its real uid
	args []string
}

// flag is the value of --name=value in p's command line, and whether it is there.
func (p proc) flag(name string) (string, bool) {
	for _, a := range p.args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// process finds the oldest process on h whose command line starts with bin (an absolute
// path) and reads its command line and user.
func (c *scratchCluster) process(h *lab.Host, bin string) (proc, error) {
	out, err := c.sh(h, `p=$(pgrep -of '^`+bin+`( |$)') || { echo 'no process `+bin+`' >&2; exit 1; }
echo "$p"
getent passwd "$(awk '/^Uid:/ {print $2}' /proc/$p/status)" | cut -d: -f1
tr '\0' '\n' < /proc/$p/cmdline`)
	if err != nil {
		return proc{}, fmt.Errorf("%s on %s: %v: %s", bin, h.Name, err, out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 3 {
		return proc{}, fmt.Errorf("%s on %s: %q", bin, h.Name, out)
	}
	return proc{pid: lines[0], user: lines[1], args: lines[2:]}, nil
}

// checkCIS is the CIS section of the proof.
func (c *scratchCluster) checkCIS(t *testing.T) {
	t.Run("flags", func(t *testing.T) { c.with(t).checkCISFlags(t) })
	t.Run("files", func(t *testing.T) { c.with(t).checkCISFiles(t) })
	t.Run("kubelet", func(t *testing.T) { c.with(t).checkCISKubelet(t) })
	t.Run("pod-security", func(t *testing.T) { c.with(t).checkPodSecurity(t) })
}

// cisFlags are the flags each control-plane process must run with (CIS section 1.2-1.4),
// exactly.
var cisFlags = map[string]map[string]string{
	"/usr/local/bin/kube-apiserver": {
		"anonymous-auth":                "false",
		"profiling":                     "false",           // 1.2.15
		"authorization-mode":            "Node,RBAC",       // 1.2.6-1.2.8
		"enable-admission-plugins":      "NodeRestriction", // 1.2.14
		"admission-control-config-file": "/etc/kubernetes/admission-config.yaml",
		"audit-log-path":                "/var/log/kubernetes/kube-audit.log", // 1.2.16
		"audit-log-maxage":              "30",                                 // 1.2.17
		"audit-log-maxbackup":           "10",                                 // 1.2.18
		"audit-log-maxsize":             "100",                                // 1.2.19
		"encryption-provider-config":    "/etc/kubernetes/encryption-config.yaml",
		"tls-min-version":               "VersionTLS12",
	},
	"/usr/local/bin/kube-controller-manager": {
		"profiling":                       "false", // 1.3.2
		"terminated-pod-gc-threshold":     "1000",  // 1.3.1
		"use-service-account-credentials": "true",  // 1.3.3
		"bind-address":                    "127.0.0.1",
	},
	"/usr/local/bin/kube-scheduler": {
		"profiling":    "false", // 1.4.1
		"bind-address": "127.0.0.1",
	},
}

func (c *scratchCluster) checkCISFlags(t *testing.T) {
	for bin, want := range cisFlags {
		p, err := c.process(c.master, bin)
		if err != nil {
			t.Error(err)
			continue
		}
		for name, v := range want {
			if got, ok := p.flag(name); !ok || got != v {
				t.Errorf("%s (pid %s): --%s=%q (set: %v), want %q", bin, p.pid, name, got, ok, v)
			}
		}
		t.Logf("%s (pid %s, user %s): %d flags as CIS wants", bin, p.pid, p.user, len(want))
	}
	// The scheduler ignores --profiling when it has --config: its configuration says it.
	if out := c.mustSh(c.master, "cat /etc/kubernetes/kube-scheduler.yaml"); !strings.Contains(out, "\nenableProfiling: false\n") {
		t.Errorf("kube-scheduler.yaml does not turn profiling off:\n%s", out)
	}
	// And the profiling endpoints are gone where it matters: the running servers answer
	// /debug/pprof/ with 404 to a client allowed everything (enabled, they answer 200).
	for _, port := range []string{"6443", "10257", "10259"} {
		out, err := c.sh(c.master, "curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert "+pki+"/ca.crt --cert "+pki+"/admin.crt --key "+pki+"/admin.key -k https://127.0.0.1:"+port+"/debug/pprof/")
		if err != nil || strings.TrimSpace(out) != "404" {
			t.Errorf("https://127.0.0.1:%s/debug/pprof/ as admin: %q (%v), want 404 (profiling off)", port, out, err)
		}
	}
}

// cisFile is a file's wanted mode and owner (stat -c %a:%U:%G).
type cisFile struct {
	path, want string
}

func (c *scratchCluster) checkCISFiles(t *testing.T) {
	master := []cisFile{
		{"/etc/systemd/system/kube-apiserver.service", "600:root:root"},          // 1.1.1
		{"/etc/systemd/system/kube-controller-manager.service", "600:root:root"}, // 1.1.3
		{"/etc/systemd/system/kube-scheduler.service", "600:root:root"},          // 1.1.5
		{"/etc/systemd/system/etcd.service", "600:root:root"},                    // 1.1.7
		{"/var/lib/etcd", "700:etcd:etcd"},                                       // 1.1.11, 1.1.12
		{"/etc/kubernetes/pki", "755:root:root"},                                 // 1.1.19
		{"/etc/kubernetes/encryption-config.yaml", "600"},
		{"/var/log/kubernetes", "700"},
	}
	node := []cisFile{
		{"/etc/systemd/system/kubelet.service", "600:root:root"},   // 4.1.1
		{"/etc/kubernetes/kube-proxy.kubeconfig", "600:root:root"}, // 4.1.3, 4.1.4
		{"/etc/kubernetes/kubelet.kubeconfig", "600:root:root"},    // 4.1.5, 4.1.6
		{"/etc/kubernetes/pki/ca.crt", "644:root:root"},            // 4.1.7, 4.1.8
		{"/var/lib/kubelet/config.yaml", "600:root:root"},          // 4.1.9, 4.1.10
		{"/etc/sysctl.d/90-kubelet.conf", "644:root:root"},
	}
	for _, h := range c.hosts() {
		files := node
		if h == c.master {
			files = append(append([]cisFile{}, master...), node...)
		}
		for _, f := range files {
			out, err := c.sh(h, "stat -c %a:%U:%G "+f.path)
			got := strings.TrimSpace(out)
			if err != nil || !strings.HasPrefix(got+":", f.want+":") {
				t.Errorf("%s: %s is %q (%v), want %s", h.Name, f.path, got, err, f.want)
			}
		}
		// Every private key on the node is readable by its owner only (1.1.21).
		if out := c.mustSh(h, "find /etc/kubernetes /var/lib/kubelet /var/lib/kube-proxy -name '*.key' ! -perm 600 -printf '%p %m\\n' 2>/dev/null; true"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: keys not 0600:\n%s", h.Name, out)
		}
	}
}

// kubeletSysctls are what the kubelet checks with protectKernelDefaults.
var kubeletSysctls = map[string]string{
	"vm/overcommit_memory": "1", "vm/panic_on_oom": "0", "kernel/panic": "10",
	"kernel/panic_on_oops": "1", "kernel/keys/root_maxkeys": "1000000", "kernel/keys/root_maxbytes": "25000000",
}

func (c *scratchCluster) checkCISKubelet(t *testing.T) {
	for _, h := range c.hosts() {
		p, err := c.process(h, "/usr/local/bin/kubelet")
		if err != nil {
			t.Error(err)
			continue
		}
		cfg, ok := p.flag("config")
		if !ok {
			t.Errorf("%s: kubelet without --config: %q", h.Name, p.args)
			continue
		}
		out := c.mustSh(h, "cat "+cfg)
		for _, want := range []string{
			"anonymous:\n    enabled: false",           // 4.2.1
			"mode: Webhook",                            // 4.2.2
			"clientCAFile: /etc/kubernetes/pki/ca.crt", // 4.2.3
			"readOnlyPort: 0",                          // 4.2.4
			"protectKernelDefaults: true",              // 4.2.6
			"makeIPTablesUtilChains: true",             // 4.2.7
			"rotateCertificates: true",                 // 4.2.11
			"serverTLSBootstrap: true",                 // 4.2.12
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: %s lacks %q", h.Name, cfg, want)
			}
		}
		// The kubelet runs (the node is Ready, checked above) with protectKernelDefaults,
		// so these were right before it started; they are right now.
		for k, v := range kubeletSysctls {
			if got := strings.TrimSpace(c.mustSh(h, "cat /proc/sys/"+k)); got != v {
				t.Errorf("%s: /proc/sys/%s = %s, want %s", h.Name, k, got, v)
			}
		}
		// The read-only port is closed.
		if out, err := c.sh(h, "curl -sS --max-time 3 http://127.0.0.1:10255/healthz"); err == nil {
			t.Errorf("%s: the kubelet's read-only port answers: %s", h.Name, out)
		}
	}
}

// A pod that breaks baseline (privileged) and one that meets it (but not restricted).
const (
	podPrivileged = `apiVersion: v1
kind: Pod
metadata: {name: cis-privileged, namespace: default}
spec:
  containers: [{name: c, image: %[1]s, imagePullPolicy: Never, args: [serve], securityContext: {privileged: true}}]
`
	podBaseline = `apiVersion: v1
kind: Pod
metadata: {name: cis-baseline, namespace: default}
spec:
  containers: [{name: c, image: %[1]s, imagePullPolicy: Never, args: [serve]}]
`
)

func (c *scratchCluster) checkPodSecurity(t *testing.T) {
	apply := func(manifest string) (string, error) {
		return c.sh(c.master, "kubectl apply --dry-run=server -f - <<'EOF' 2>&1\n"+fmt.Sprintf(manifest, "registry.example/probe:v1")+"EOF")
	}
	out, err := apply(podPrivileged)
	if err == nil || !strings.Contains(out, `violates PodSecurity "baseline:latest"`) {
		t.Errorf("a privileged pod in default: %v\n%s\nwant it refused by PodSecurity baseline", err, out)
	} else {
		t.Logf("privileged pod refused: %s", firstLine(strings.TrimSpace(out)))
	}
	out, err = apply(podBaseline)
	if err != nil || !strings.Contains(out, "pod/cis-baseline created (server dry run)") {
		t.Errorf("a baseline pod in default: %v\n%s\nwant it admitted", err, out)
	}
	if !strings.Contains(out, `would violate PodSecurity "restricted:latest"`) {
		t.Errorf("a pod that breaks restricted got no warning:\n%s", out)
	}
	// kube-system (no Pod Security labels of its own) is exempt by the admission
	// configuration: the same privileged pod is admitted there.
	out, err = c.sh(c.master, "kubectl apply --dry-run=server -f - <<'EOF' 2>&1\n"+strings.Replace(fmt.Sprintf(podPrivileged, "registry.example/probe:v1"), "namespace: default", "namespace: kube-system", 1)+"EOF")
	if err != nil {
		t.Errorf("a privileged pod in the exempt kube-system namespace: %v\n%s", err, out)
	}
}
