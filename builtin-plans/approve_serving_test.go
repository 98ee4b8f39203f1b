package builtinplans

// The kubelet serving-certificate approver (scratch/templates/approve-serving.sh) run with a
// fake kubectl and real openssl: it approves a node's honest request and leaves pending every
// request that asks for more than the node's line of the allowlist (issue #15). The proof
// (integration/e2e_cis_test.go) runs the same checks against a real API server.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fakeKubectl answers the approver's kubectl calls from a directory of CSRs (one directory
// each: user, groups, usages, req.pem, optional state) and records approvals.
const fakeKubectl = `#!/bin/sh
F=$FIXTURES
case "$1 $2" in
"get csr")
  if [ "$3" = "-o" ]; then
    for d in "$F"/*/; do
      n=$(basename "$d")
      printf '%s %s %s\n' "$n" "$(cat "$d/user")" "$(cat "$d/state" 2>/dev/null)"
    done
    exit 0
  fi
  case "$5" in
    *spec.groups*) cat "$F/$3/groups" ;;
    *spec.request*) base64 -w0 "$F/$3/req.pem" ;;
    *spec.usages*) cat "$F/$3/usages" ;;
    *) echo "fake kubectl: $*" >&2; exit 1 ;;
  esac ;;
"certificate approve") echo "$3" >> "$APPROVED" ;;
*) echo "fake kubectl: $*" >&2; exit 1 ;;
esac
`

func TestApproveServingAllowlist(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not on PATH")
	}
	dir := t.TempDir()
	fixtures := filepath.Join(dir, "csrs")
	kubectl := filepath.Join(dir, "kubectl")
	if err := os.WriteFile(kubectl, []byte(fakeKubectl), 0o755); err != nil {
		t.Fatal(err)
	}
	allowlist := filepath.Join(dir, "allowlist")
	if err := os.WriteFile(allowlist, []byte("w1 w1 10.0.0.21\nw2 w2 10.0.0.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	type csr struct {
		name, user, groups, usages string
		subject                    pkix.Name
		dns                        []string
		ips                        []string
		uris                       []string
		state                      string // Approved or Denied: decided before
		approve                    bool
	}
	node := func(n string) pkix.Name {
		return pkix.Name{CommonName: "system:node:" + n, Organization: []string{"system:nodes"}}
	}
	const nodes, usages = "system:nodes,system:authenticated,", "digital signature,server auth,"
	cases := []csr{
		{name: "honest", user: "system:node:w1", groups: nodes, usages: usages, subject: node("w1"), dns: []string{"w1"}, ips: []string{"10.0.0.21"}, approve: true},
		{name: "ip-only", user: "system:node:w2", groups: nodes, usages: usages, subject: node("w2"), ips: []string{"10.0.0.22"}, approve: true},
		{name: "foreign-dns", user: "system:node:w1", groups: nodes, usages: usages, subject: node("w1"), dns: []string{"w1", "kubernetes.default.svc"}, ips: []string{"10.0.0.21"}},
		{name: "api-endpoint-dns", user: "system:node:w1", groups: nodes, usages: usages, subject: node("w1"), dns: []string{"api.example.com"}},
		{name: "other-node-dns", user: "system:node:w1", groups: nodes, usages: usages, subject: node("w1"), dns: []string{"w2"}},
		{name: "foreign-ip", user: "system:node:w1", groups: nodes, usages: usages, subject: node("w1"), ips: []string{"10.0.0.21", "10.96.0.1"}},
		{name: "other-node-ip", user: "system:node:w1", groups: nodes, usages: usages, subject: node("w1"), ips: []string{"10.0.0.22"}},
		{name: "ipv6", user: "system:node:w1", groups: nodes, usages: usages, subject: node("w1"), ips: []string{"10.0.0.21", "fd00::1"}},
		{name: "uri", user: "system:node:w1", groups: nodes, usages: usages, subject: node("w1"), ips: []string{"10.0.0.21"}, uris: []string{"spiffe://evil"}},
		{name: "cn-suffix", user: "system:node:w1", groups: nodes, usages: usages, subject: node("w1-evil"), ips: []string{"10.0.0.21"}},
		{name: "cn-other", user: "system:node:w1", groups: nodes, usages: usages, subject: node("w2"), ips: []string{"10.0.0.22"}},
		{name: "extra-o", user: "system:node:w1", groups: nodes, usages: usages, subject: pkix.Name{CommonName: "system:node:w1", Organization: []string{"system:nodes", "system:masters"}}, ips: []string{"10.0.0.21"}},
		{name: "not-a-node", user: "alice", groups: nodes, usages: usages, subject: node("w1"), ips: []string{"10.0.0.21"}},
		{name: "unknown-node", user: "system:node:w9", groups: nodes, usages: usages, subject: node("w9"), ips: []string{"10.0.0.29"}},
		{name: "not-in-nodes", user: "system:node:w1", groups: "system:authenticated,", usages: usages, subject: node("w1"), ips: []string{"10.0.0.21"}},
		{name: "client-auth", user: "system:node:w1", groups: nodes, usages: "digital signature,server auth,client auth,", subject: node("w1"), ips: []string{"10.0.0.21"}},
		{name: "decided-before", user: "system:node:w1", groups: nodes, usages: usages, subject: node("w1"), ips: []string{"10.0.0.21"}, state: "Denied"},
		{name: "no-server-auth", user: "system:node:w1", groups: nodes, usages: "digital signature,", subject: node("w1"), ips: []string{"10.0.0.21"}},
	}
	for _, c := range cases {
		tmpl := &x509.CertificateRequest{Subject: c.subject, DNSNames: c.dns}
		for _, ip := range c.ips {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
		}
		for _, u := range c.uris {
			pu, _ := url.Parse(u)
			tmpl.URIs = append(tmpl.URIs, pu)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(fixtures, c.name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, v := range map[string]string{"user": c.user, "groups": c.groups, "usages": c.usages, "state": c.state,
			"req.pem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))} {
			if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	script, err := os.ReadFile(filepath.Join("scratch", "templates", "approve-serving.sh"))
	if err != nil {
		t.Fatal(err)
	}
	approved := filepath.Join(dir, "approved")
	cmd := exec.Command("sh", "-s")
	cmd.Stdin = strings.NewReader(string(script))
	cmd.Env = append(os.Environ(), "KUBECTL="+kubectl, "FIXTURES="+fixtures, "APPROVED="+approved, "ALLOWLIST="+allowlist)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("approve-serving.sh: %v\n%s", err, out)
	}
	t.Logf("approve-serving.sh:\n%s", out)
	data, _ := os.ReadFile(approved)
	got := strings.Fields(string(data))
	sort.Strings(got)
	var want []string
	for _, c := range cases {
		if c.approve {
			want = append(want, c.name)
		}
	}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("approved %v, want exactly %v", got, want)
	}
	for _, c := range cases {
		if !c.approve && c.state == "" && !strings.Contains(string(out), "skip "+c.name+":") {
			t.Errorf("%s: no reason given for leaving it pending", c.name)
		}
	}
}
