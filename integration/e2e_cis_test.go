package integration

// The CIS section of the scratch proof (issue #15): the hardening the plan claims, read on
// the running cluster from outside the plan. Flags come from the running processes' command
// lines (/proc/PID/cmdline), settings from the files the processes read, modes and owners
// from stat, and the behaviour from the API: profiling endpoints gone, Pod Security
// admission refusing a privileged pod and admitting a plain one.

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	t.Run("identities", func(t *testing.T) { c.with(t).checkIdentities(t) })
	t.Run("serving-approver", func(t *testing.T) { c.with(t).checkServingApprover(t) })
	t.Run("credentials", func(t *testing.T) { c.with(t).checkCredentialsLeft(t) })
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
		// Every private key on the node is readable by its owner only (1.1.21), but for the
		// service-account key, which the API server and the controller-manager both sign
		// with (owner and group).
		if out := c.mustSh(h, "find /etc/kubernetes /var/lib/kubelet /var/lib/kube-proxy -name '*.key' ! -perm 600 ! -path "+pki+"/sa.key -printf '%p %m\\n' 2>/dev/null; true"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: keys not 0600:\n%s", h.Name, out)
		}
		if h == c.master {
			if got := strings.TrimSpace(c.mustSh(h, "stat -c %a:%U:%G "+pki+"/sa.key")); got != "640:kube-apiserver:kube-controller-manager" {
				t.Errorf("%s: sa.key is %s, want 640:kube-apiserver:kube-controller-manager", h.Name, got)
			}
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

// readCert reads the first certificate of a PEM file on host h.
func readCert(h *lab.Host, path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(h.Root, path))
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s: no PEM", path)
	}
	return x509.ParseCertificate(b.Bytes)
}

// checkIdentities: each control-plane process runs as its own user and can read its own
// keys only; the admin is cluster-admin through an RBAC group, not system:masters; only the
// break-glass super-admin, on the first master alone, is in system:masters; leaf
// certificates last a year, the CAs longer.
func (c *scratchCluster) checkIdentities(t *testing.T) {
	m := c.master
	users := map[string]string{
		"/usr/local/bin/kube-apiserver":          "kube-apiserver",
		"/usr/local/bin/kube-controller-manager": "kube-controller-manager",
		"/usr/local/bin/kube-scheduler":          "kube-scheduler",
		"/usr/local/bin/etcd":                    "etcd",
	}
	for bin, want := range users {
		p, err := c.process(m, bin)
		if err != nil {
			t.Error(err)
			continue
		}
		if p.user != want {
			t.Errorf("%s runs as %s, want %s", bin, p.user, want)
		}
	}
	// What each user can read, tried as that user (runuser), not inferred from modes.
	keys := []string{"ca.key", "kubelet-serving-ca.key", "sa.key", "kube-apiserver.key", "apiserver-kubelet-client.key",
		"etcd-client.key", "front-proxy-ca.key", "front-proxy-client.key", "etcd-ca.key", "kube-controller-manager.key",
		"kube-scheduler.key", "admin.key", "super-admin.key", "../encryption-config.yaml"}
	readable := map[string][]string{
		"kube-apiserver":          {"sa.key", "kube-apiserver.key", "apiserver-kubelet-client.key", "etcd-client.key", "front-proxy-client.key", "../encryption-config.yaml"},
		"kube-controller-manager": {"ca.key", "kubelet-serving-ca.key", "sa.key", "kube-controller-manager.key"},
		"kube-scheduler":          {"kube-scheduler.key"},
	}
	for user, own := range readable {
		var script strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&script, "if runuser -u %s -- head -c1 %s/%s >/dev/null 2>&1; then echo %s; fi\n", user, pki, k, k)
		}
		got := strings.Fields(c.mustSh(m, script.String()))
		if strings.Join(got, " ") != strings.Join(own, " ") {
			t.Errorf("%s can read %v, want exactly %v", user, got, own)
		} else {
			t.Logf("%s reads %v and no other key", user, got)
		}
	}

	// The admin's identity, as the API server sees it.
	out := c.mustSh(m, "kubectl auth whoami -o json")
	var who struct {
		Status struct {
			UserInfo struct {
				Username string   `json:"username"`
				Groups   []string `json:"groups"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &who); err != nil {
		t.Fatalf("kubectl auth whoami: %v\n%s", err, out)
	}
	groups := strings.Join(who.Status.UserInfo.Groups, ",")
	if who.Status.UserInfo.Username != "kubernetes-admin" || !strings.Contains(groups, "kubeadm:cluster-admins") || strings.Contains(groups, "system:masters") {
		t.Errorf("admin.kubeconfig is %s in %s; want kubernetes-admin in kubeadm:cluster-admins, not system:masters", who.Status.UserInfo.Username, groups)
	}
	if got := strings.TrimSpace(c.mustSh(m, "kubectl get clusterrolebinding kubeadm:cluster-admins -o jsonpath='{.roleRef.name} {.subjects[*].kind}:{.subjects[*].name}'")); got != "cluster-admin Group:kubeadm:cluster-admins" {
		t.Errorf("binding kubeadm:cluster-admins: %q", got)
	}
	// The break-glass kubeconfig: on the first master only, root's only, system:masters.
	if got := strings.TrimSpace(c.mustSh(m, "stat -c %a:%U /etc/kubernetes/super-admin.kubeconfig "+pki+"/super-admin.key")); got != "600:root\n600:root" {
		t.Errorf("super-admin kubeconfig and key: %q, want 600:root", got)
	}
	if out, err := c.sh(m, "kubectl --kubeconfig /etc/kubernetes/super-admin.kubeconfig auth whoami -o jsonpath='{.status.userInfo.groups}'"); err != nil || !strings.Contains(out, "system:masters") {
		t.Errorf("super-admin.kubeconfig: %v %s, want system:masters", err, out)
	}
	for _, w := range c.workers {
		if out, _ := c.sh(w, "ls /etc/kubernetes/super-admin.kubeconfig "+pki+"/super-admin.* 2>/dev/null"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: break-glass material on a worker: %s", w.Name, out)
		}
	}
	// Certificates: of all signed by the cluster CA only the super-admin's is in
	// system:masters; leaf certificates for a year, the CAs for longer.
	files, _ := filepath.Glob(filepath.Join(m.Root, pki, "*.crt"))
	for _, f := range files {
		rel := strings.TrimPrefix(f, m.Root)
		cert, err := readCert(m, rel)
		if err != nil {
			t.Error(err)
			continue
		}
		life := cert.NotAfter.Sub(cert.NotBefore)
		switch {
		case cert.IsCA && life < 10*365*24*time.Hour:
			t.Errorf("%s: a CA for %s, want the long ca_days", rel, life)
		case !cert.IsCA && life > 366*24*time.Hour:
			t.Errorf("%s: a leaf certificate for %s, want one year", rel, life.Round(time.Hour))
		}
		if cert.Issuer.CommonName == "kubernetes-ca" && !cert.IsCA {
			for _, o := range cert.Subject.Organization {
				if o == "system:masters" && cert.Subject.CommonName != "kubernetes-super-admin" {
					t.Errorf("%s: %s in system:masters", rel, cert.Subject.CommonName)
				}
			}
		}
	}
}

// checkServingApprover posts, as a node (its kubelet's client certificate), serving CSRs
// that ask for more than the node's own name and address, runs the plan's approver, and
// requires those left pending, and the node's honest request approved.
func (c *scratchCluster) checkServingApprover(t *testing.T) {
	w := c.master
	if len(c.workers) > 0 {
		w = c.workers[0]
	}
	m := c.master
	// kubelet-client-current.pem is a link to an absolute path inside the host
	cred, err := c.sh(w, "cat /var/lib/kubelet/pki/kubelet-client-current.pem")
	if err != nil {
		t.Fatalf("%s: kubelet client credential: %v", w.Name, err)
	}
	dir := "/var/tmp/cis-csr" // not /tmp: a tmpfs inside the host hides what is written under its root
	if err := os.MkdirAll(filepath.Join(m.Root, dir), 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(filepath.Join(m.Root, dir))
	if err := os.WriteFile(filepath.Join(m.Root, dir, "node.pem"), []byte(cred), 0o600); err != nil {
		t.Fatal(err)
	}
	ip := w.Address
	me := "/O=system:nodes/CN=system:node:" + w.Name
	// state: what the request must end as. "refused": the API server does not even take it
	// (NodeRestriction: a node may only ask for its own CN); "" left pending; "Approved".
	cases := []struct {
		name, subject, sans, state string
	}{
		{"cis-foreign-dns", me, "DNS:" + w.Name + ",DNS:kubernetes.default.svc,IP:" + ip, ""},
		{"cis-foreign-ip", me, "DNS:" + w.Name + ",IP:" + ip + ",IP:10.96.0.1", ""},
		{"cis-ipv6", me, "DNS:" + w.Name + ",IP:" + ip + ",IP:fd00::1", ""},
		{"cis-extra-o", "/O=system:nodes/O=system:masters/CN=system:node:" + w.Name, "DNS:" + w.Name + ",IP:" + ip, ""},
		{"cis-uri", me, "DNS:" + w.Name + ",IP:" + ip + ",URI:spiffe://evil", ""},
		{"cis-cn-suffix", "/O=system:nodes/CN=system:node:" + w.Name + "-evil", "DNS:" + w.Name + ",IP:" + ip, "refused"},
		{"cis-honest", me, "DNS:" + w.Name + ",IP:" + ip, "Approved"},
	}
	var names []string
	for _, tc := range cases {
		names = append(names, tc.name)
	}
	defer c.sh(m, "kubectl delete csr --ignore-not-found "+strings.Join(names, " "))
	var setup strings.Builder
	fmt.Fprintf(&setup, "set -e\ncd %s\ncat > node.kubeconfig <<'EOF'\n", dir)
	fmt.Fprintf(&setup, "apiVersion: v1\nkind: Config\nclusters: [{name: cluster, cluster: {server: 'https://127.0.0.1:6443', certificate-authority: %s/ca.crt}}]\n", pki)
	fmt.Fprintf(&setup, "users: [{name: node, user: {client-certificate: %s/node.pem, client-key: %s/node.pem}}]\n", dir, dir)
	setup.WriteString("contexts: [{name: node, context: {cluster: cluster, user: node}}]\ncurrent-context: node\nEOF\n")
	c.mustSh(m, setup.String())
	for _, tc := range cases {
		out, err := c.sh(m, fmt.Sprintf("set -e\ncd %[4]s\nopenssl ecparam -name prime256v1 -genkey -noout -out %[1]s.key\n"+
			"openssl req -new -key %[1]s.key -subj '%[2]s' -addext 'subjectAltName=%[3]s' -out %[1]s.csr\n"+
			"kubectl --kubeconfig node.kubeconfig create -f - <<EOF\n"+
			"apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {name: %[1]s}\n"+
			"spec: {signerName: kubernetes.io/kubelet-serving, usages: [digital signature, server auth], request: $(base64 -w0 %[1]s.csr)}\nEOF\n",
			tc.name, tc.subject, tc.sans, dir))
		switch {
		case tc.state == "refused" && (err == nil || !strings.Contains(out, "can only create a node CSR with CN=system:node:"+w.Name)):
			t.Errorf("CSR %s (%s) as %s: %v %s; want refused by the API server", tc.name, tc.subject, w.Name, err, out)
		case tc.state != "refused" && err != nil:
			t.Fatalf("posting CSR %s as %s: %v\n%s", tc.name, w.Name, err, out)
		}
	}
	out, err := c.sh(m, "sh /etc/kubernetes/addons/approve-serving.sh")
	if err != nil {
		t.Fatalf("approve-serving.sh: %v\n%s", err, out)
	}
	t.Logf("approve-serving.sh:\n%s", strings.TrimSpace(out))
	for _, tc := range cases {
		if tc.state == "refused" {
			continue
		}
		state := strings.TrimSpace(c.mustSh(m, "kubectl get csr "+tc.name+" -o jsonpath='{.status.conditions[0].type}'"))
		if state != tc.state {
			t.Errorf("CSR %s (%s, %s) from %s: %q, want %q (empty: left pending)", tc.name, tc.subject, tc.sans, w.Name, state, tc.state)
		}
	}
}

// checkCredentialsLeft: what the build leaves behind. No bootstrap token Secret once every
// node has joined (and the token authenticates nothing); kube-proxy holds a key of its own
// on every node; with a single master no CA bundle exists, on the master or in the
// operator's run state (sealed values opened with the state's key and searched too).
func (c *scratchCluster) checkCredentialsLeft(t *testing.T) {
	m := c.master
	if out := strings.TrimSpace(c.mustSh(m, "kubectl -n kube-system get secrets --field-selector type=bootstrap.kubernetes.io/token -o name")); out != "" {
		t.Errorf("bootstrap token Secrets left after every node joined: %s", out)
	}
	token := strings.TrimSpace(c.mustSh(m, "cat /etc/kubernetes/bootstrap-token"))
	caPEM, err := os.ReadFile(filepath.Join(m.Root, pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	if status, err := bearerStatus(m.Address+":6443", roots, token); err != nil || status != 401 {
		t.Errorf("the used bootstrap token against the API server: HTTP %d (%v), want 401", status, err)
	}

	// kube-proxy: a key per node, made there; a certificate for system:kube-proxy from the
	// cluster CA for that key.
	seen := map[string]string{}
	for _, h := range c.hosts() {
		if got := strings.TrimSpace(c.mustSh(h, "stat -c %a:%U /var/lib/kube-proxy/kube-proxy.key")); got != "600:root" {
			t.Errorf("%s: kube-proxy.key is %s, want 600:root", h.Name, got)
		}
		cert, err := readCert(h, "/var/lib/kube-proxy/kube-proxy.crt")
		if err != nil {
			t.Errorf("%s: %v", h.Name, err)
			continue
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: kube-proxy certificate: %v", h.Name, err)
		}
		if cert.Subject.CommonName != "system:kube-proxy" {
			t.Errorf("%s: kube-proxy certificate for %s", h.Name, cert.Subject.CommonName)
		}
		if _, err := tls.LoadX509KeyPair(filepath.Join(h.Root, "var/lib/kube-proxy/kube-proxy.crt"), filepath.Join(h.Root, "var/lib/kube-proxy/kube-proxy.key")); err != nil {
			t.Errorf("%s: kube-proxy's certificate is not for its key: %v", h.Name, err)
		}
		pub, _ := x509.MarshalPKIXPublicKey(cert.PublicKey)
		if other, ok := seen[string(pub)]; ok {
			t.Errorf("%s and %s share kube-proxy's key", other, h.Name)
		}
		seen[string(pub)] = h.Name
	}
	if out, _ := c.sh(m, "ls "+pki+"/kube-proxy.key 2>/dev/null"); strings.TrimSpace(out) != "" {
		t.Errorf("a kube-proxy key on the first master's PKI: %s", out)
	}

	// A single master: no bundle of CA keys, made or left anywhere. (Several masters share one
	// by design: the first master keeps it, the run state holds it sealed.)
	single := len(c.masters) <= 1
	if out, _ := c.sh(m, "ls -d "+pki+"/bundle "+pki+"/bundle.tgz.b64 /etc/kubernetes/pki-bundle.tgz.b64 /etc/kubernetes/pki-bundle.applied 2>/dev/null"); single && strings.TrimSpace(out) != "" {
		t.Errorf("a single master keeps a CA bundle: %s", out)
	}
	caKey, err := os.ReadFile(filepath.Join(m.Root, pki, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	values, err := stateValues(filepath.Join(c.work, ".plan", "state.json"))
	if err != nil {
		t.Fatalf("run state: %v", err)
	}
	keyBody := strings.Split(strings.TrimSpace(string(caKey)), "\n")[1]
	for _, v := range values {
		switch {
		case strings.Contains(v, "PRIVATE KEY") || strings.Contains(v, keyBody):
			t.Errorf("the operator's run state holds a private key: %.60q...", v)
		case single && gzipped(v):
			t.Errorf("the operator's run state holds a gzip archive (a CA bundle?): %.60q...", v)
		}
	}
	t.Logf("run state: %d values (sealed ones opened), no private key in clear, %d master(s)", len(values), len(c.masters))
}

// bearerStatus is the HTTP status of GET /api with a bearer token.
func bearerStatus(addr string, roots *x509.CertPool, token string) (int, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: strings.Split(addr, ":")[0]})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /api HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", addr, token)
	var code int
	_, err = fmt.Fscanf(conn, "HTTP/1.1 %d", &code)
	return code, err
}

// stateValues reads every output value of a run state file as text: plain ones as stored,
// sealed ones opened with the state's key file (AES-256-GCM, nonce first, as the executor
// seals them).
func stateValues(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(path + ".key")
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	var st struct {
		Nodes map[string]struct {
			Outputs map[string]struct {
				Value  json.RawMessage `json:"value"`
				Sealed string          `json:"sealed"`
			} `json:"outputs"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, err
	}
	var out []string
	for node, n := range st.Nodes {
		for name, o := range n.Outputs {
			if o.Sealed == "" {
				out = append(out, string(o.Value))
				continue
			}
			data, err := base64.StdEncoding.DecodeString(o.Sealed)
			if err != nil || len(data) < aead.NonceSize() {
				return nil, fmt.Errorf("%s %s: sealed value malformed", node, name)
			}
			plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], nil)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %v", node, name, err)
			}
			out = append(out, string(plain))
		}
	}
	return out, nil
}

// gzipped reports whether a string in v (a value as the state stores it: cty JSON) holds
// base64 of a gzip stream.
func gzipped(v string) bool {
	var x any
	if json.Unmarshal([]byte(v), &x) != nil {
		return false
	}
	found := false
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			data, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(x), ""))
			if err == nil && len(data) > 2 {
				if _, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
					found = true
				}
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(x)
	return found
}
