package builtinplans_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The certificate scripts run here by sh with openssl, under a temporary directory standing
// for / (every absolute path the scripts use is moved under it).

// rooted is a script with /etc/kubernetes, /var/lib and /etc/haproxy moved under root.
func rooted(t *testing.T, root string, files ...string) string {
	t.Helper()
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("scratch", "templates", f))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		b.WriteString("\n")
	}
	s := b.String()
	for _, p := range []string{"/etc/kubernetes", "/var/lib/", "/etc/haproxy"} {
		s = strings.ReplaceAll(s, p, root+p)
	}
	return s
}

func runSh(t *testing.T, script string) string {
	t.Helper()
	cmd := exec.Command("sh", "-s")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v\n%s", err, out)
	}
	return string(out)
}

func opensslOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// renewPaths is the scratch plan's cert_expiry output: the paths of the report's "renew" lines.
var renewPaths = regexp.MustCompile(`(?m)^renew +(\S+)`)

// TestCertRenewal: pki-lib.sh's cert and kube-proxy-sign.sh keep a certificate while it is
// valid for longer than RENEW_SECONDS and renew it otherwise, signed by the same CA for the
// same key (the CA untouched, no .new file left); cert-expiry.sh lists exactly the
// certificates due, the leaf ones as "renew" lines, a CA never.
func TestCertRenewal(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not on PATH")
	}
	root := t.TempDir()
	pki := filepath.Join(root, "etc/kubernetes/pki")
	kp := filepath.Join(root, "var/lib/kube-proxy")
	if err := os.MkdirAll(kp, 0o755); err != nil {
		t.Fatal(err)
	}
	// a node's kube-proxy key and request, as kube_proxy_key makes them
	opensslOut(t, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", filepath.Join(kp, "kube-proxy.key"))
	opensslOut(t, "req", "-new", "-sha256", "-key", filepath.Join(kp, "kube-proxy.key"), "-subj", "/O=system:node-proxier/CN=system:kube-proxy", "-out", filepath.Join(kp, "kube-proxy.csr"))
	csr, err := os.ReadFile(filepath.Join(kp, "kube-proxy.csr"))
	if err != nil {
		t.Fatal(err)
	}

	build := func(renewDays int) string {
		return runSh(t, "CURVE=prime256v1\nCA_DAYS=3650\nCERT_DAYS=365\nRENEW_SECONDS="+strconv.Itoa(renewDays*86400)+"\nNODES=w1\n"+
			rooted(t, root, "pki-lib.sh")+
			"ca ca kubernetes-ca\ncert admin \"/O=kubeadm:cluster-admins/CN=kubernetes-admin\" ca v3_req_client\n"+
			"mkdir -p "+pki+"/kube-proxy\ncat > "+pki+"/kube-proxy/w1.csr.new <<'CSR'\n"+string(csr)+"CSR\n"+
			rooted(t, root, "kube-proxy-sign.sh"))
	}
	report := func(renewDays int) string {
		// the kube-proxy certificate the node got (node_kubeconfigs)
		crt, err := os.ReadFile(filepath.Join(pki, "kube-proxy", "w1.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(kp, "kube-proxy.crt"), crt, 0o644); err != nil {
			t.Fatal(err)
		}
		return runSh(t, "HOST=cp1\nRENEW_DAYS="+strconv.Itoa(renewDays)+"\n"+rooted(t, root, "cert-expiry.sh"))
	}
	type state struct{ caSum, admin, adminKey, proxy string }
	read := func() state {
		return state{
			caSum:    opensslOut(t, "dgst", "-sha256", filepath.Join(pki, "ca.crt")) + opensslOut(t, "dgst", "-sha256", filepath.Join(pki, "ca.key")),
			admin:    opensslOut(t, "x509", "-noout", "-serial", "-in", filepath.Join(pki, "admin.crt")),
			adminKey: opensslOut(t, "dgst", "-sha256", filepath.Join(pki, "admin.key")),
			proxy:    opensslOut(t, "x509", "-noout", "-serial", "-in", filepath.Join(pki, "kube-proxy", "w1.crt")),
		}
	}
	// the certificate is the CA's and its key's
	verify := func() {
		t.Helper()
		for _, p := range [][2]string{{filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key")}, {filepath.Join(pki, "kube-proxy", "w1.crt"), filepath.Join(kp, "kube-proxy.key")}} {
			if out := opensslOut(t, "verify", "-CAfile", filepath.Join(pki, "ca.crt"), p[0]); !strings.HasSuffix(out, ": OK") {
				t.Errorf("%s does not verify against the CA: %s", p[0], out)
			}
			if a, b := opensslOut(t, "x509", "-noout", "-pubkey", "-in", p[0]), opensslOut(t, "pkey", "-pubout", "-in", p[1]); a != b {
				t.Errorf("%s is not for the key %s", p[0], p[1])
			}
		}
		if left, _ := filepath.Glob(filepath.Join(pki, "*.new")); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
		if left, _ := filepath.Glob(filepath.Join(pki, "kube-proxy", "*.new")); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
		// certs.json.sha256 names the certificates certs.json was made from (the plan's guard
		// compares it with the certificates in place)
		recorded, _ := os.ReadFile(filepath.Join(pki, "kube-proxy", "certs.json.sha256"))
		if sum := opensslOut(t, "dgst", "-sha256", "-r", filepath.Join(pki, "kube-proxy", "w1.crt")); !strings.HasPrefix(sum, strings.TrimSpace(string(recorded))+" ") || len(recorded) < 64 {
			t.Errorf("certs.json.sha256 is %q, the certificate's digest %s", recorded, sum)
		}
	}

	build(30)
	first := read()
	verify()
	rep := report(30)
	if !strings.Contains(rep, "cp1: 4 certificates, none expires within 30 days (the soonest: ") || renewPaths.MatchString(rep) {
		t.Errorf("report with nothing due:\n%s", rep)
	}

	// nothing due: nothing made again
	if out := build(30); strings.Contains(out, "renew") {
		t.Errorf("a run with nothing due renewed something:\n%s", out)
	}
	if again := read(); again != first {
		t.Errorf("a run with nothing due changed certificates: %+v, then %+v", first, again)
	}

	// 400 days: every leaf certificate (one year) is due, the CA (ten years) is not
	rep = report(400)
	got := renewPaths.FindAllStringSubmatch(rep, -1)
	var paths []string
	for _, m := range got {
		paths = append(paths, m[1])
	}
	want := []string{pki + "/admin.crt", pki + "/kube-proxy/w1.crt", kp + "/kube-proxy.crt"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("due with 400 days: %v, want %v; report:\n%s", paths, want, rep)
	}
	if !regexp.MustCompile(`(?m)^renew   `+regexp.QuoteMeta(pki)+`/admin.crt  CN=kubernetes-admin,O=kubeadm:cluster-admins  not after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  36[45] days left$`).MatchString(rep) ||
		!strings.Contains(rep, "cp1: 4 certificates, 3 expire within 400 days") {
		t.Errorf("report with 400 days:\n%s", rep)
	}
	out := build(400)
	for _, w := range []string{"renewed " + pki + "/admin.crt", "renewed kube-proxy's certificate of w1"} {
		if !strings.Contains(out, w) {
			t.Errorf("the renewal did not say %q:\n%s", w, out)
		}
	}
	renewed := read()
	verify()
	if renewed.caSum != first.caSum {
		t.Error("the CA changed")
	}
	if renewed.adminKey != first.adminKey {
		t.Error("the admin key changed: keys are kept on renewal")
	}
	if renewed.admin == first.admin || renewed.proxy == first.proxy {
		t.Errorf("not renewed: admin %s then %s, kube-proxy %s then %s", first.admin, renewed.admin, first.proxy, renewed.proxy)
	}

	// a CA within the threshold is reported, as a CA, and never renewed
	rep = report(4000)
	if !regexp.MustCompile(`(?m)^ca      ` + regexp.QuoteMeta(pki) + `/ca.crt  CN=kubernetes-ca  `).MatchString(rep) {
		t.Errorf("report with 4000 days does not list the CA as a CA:\n%s", rep)
	}
	for _, m := range renewPaths.FindAllStringSubmatch(rep, -1) {
		if strings.HasSuffix(m[1], "/ca.crt") {
			t.Errorf("the CA is listed for renewal:\n%s", rep)
		}
	}
}
