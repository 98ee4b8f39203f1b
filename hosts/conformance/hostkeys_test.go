package conformance

// A differential test of host key checking against OpenSSH's own client:
// for every mix of known_hosts entries, HostKeyAlias, CheckHostIP,
// StrictHostKeyChecking and port, `ssh` and plan must both connect or both
// refuse, and record the same names in known_hosts.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/internal/sshtest"
	"github.com/plan-dev/plan/hosts/inventory"
	"github.com/plan-dev/plan/integration/lab"
)

// keyServer is one sshd to compare against.
type keyServer struct {
	host     string // HostName (an IP address)
	port     int
	user     string
	identity string
	key      ssh.PublicKey // the host key it presents
}

const testAlias = "alias.plan.test"

func differentialHostKeys(t *testing.T, srv keyServer) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no OpenSSH client")
	}
	_, wrongPriv, _ := ed25519.GenerateKey(rand.Reader)
	wrong, err := ssh.NewPublicKey(wrongPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(srv.port)
	hostPort := knownhosts.Normalize(net.JoinHostPort(srv.host, port))
	// What known_hosts holds before the connection.
	entries := []struct {
		name  string
		lines []string
	}{
		{"empty", nil},
		{"host", []string{knownhosts.Line([]string{hostPort}, srv.key)}},
		{"bare-address", []string{srv.host + " " + string(ssh.MarshalAuthorizedKey(srv.key))}},
		{"alias", []string{testAlias + " " + string(ssh.MarshalAuthorizedKey(srv.key))}},
		{"alias-with-port", []string{"[" + testAlias + "]:" + port + " " + string(ssh.MarshalAuthorizedKey(srv.key))}},
		{"alias-wrong-key", []string{testAlias + " " + string(ssh.MarshalAuthorizedKey(wrong))}},
		{"alias-and-host-wrong-key", []string{
			testAlias + " " + string(ssh.MarshalAuthorizedKey(srv.key)),
			knownhosts.Line([]string{hostPort}, wrong)}},
		{"host-wrong-key", []string{knownhosts.Line([]string{hostPort}, wrong)}},
	}
	for _, e := range entries {
		if e.name == "alias-with-port" && srv.port == 22 {
			// "[alias]:22" is a line OpenSSH never writes and never
			// matches; x/crypto's knownhosts reads it as "alias".
			continue
		}
		for _, alias := range []string{"", testAlias} {
			for _, checkIP := range []string{"no", "yes"} {
				for _, strict := range []string{"yes", "accept-new"} {
					name := fmt.Sprintf("%s/alias=%t/CheckHostIP=%s/Strict=%s", e.name, alias != "", checkIP, strict)
					t.Run(name, func(t *testing.T) {
						opts := fmt.Sprintf("  CheckHostIP %s\n  StrictHostKeyChecking %s\n", checkIP, strict)
						if alias != "" {
							opts += "  HostKeyAlias " + alias + "\n"
						}
						sshOK, sshKH := connectWithSSH(t, srv, e.lines, opts)
						planOK, planKH, planErr := connectWithPlan(t, srv, e.lines, opts)
						if sshOK != planOK {
							t.Fatalf("ssh connects: %v, plan connects: %v (%v)", sshOK, planOK, planErr)
						}
						if !slices.Equal(sshKH, planKH) {
							t.Fatalf("known_hosts names differ:\nssh:  %q\nplan: %q", sshKH, planKH)
						}
					})
				}
			}
		}
	}
}

// writeConfig writes known_hosts and an ssh_config for host "diff".
func writeConfig(t *testing.T, srv keyServer, lines []string, opts string) (cfg, kh string) {
	dir := t.TempDir()
	kh = filepath.Join(dir, "known_hosts")
	text := ""
	for _, l := range lines {
		text += strings.TrimSpace(l) + "\n"
	}
	if err := os.WriteFile(kh, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "config")
	conf := fmt.Sprintf("Host diff\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n"+
		"  IdentityAgent none\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  UpdateHostKeys no\n"+
		"  HashKnownHosts no\n  BatchMode yes\n  LogLevel ERROR\n  ConnectTimeout 20\n%s",
		srv.host, srv.port, srv.user, srv.identity, kh, opts)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, kh
}

func connectWithSSH(t *testing.T, srv keyServer, lines []string, opts string) (bool, []string) {
	cfg, kh := writeConfig(t, srv, lines, opts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := exec.CommandContext(ctx, "ssh", "-F", cfg, "diff", "true").Run()
	return err == nil, recordedNames(t, kh, len(lines))
}

func connectWithPlan(t *testing.T, srv keyServer, lines []string, opts string) (bool, []string, error) {
	cfg, kh := writeConfig(t, srv, lines, opts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eps, err := (&inventory.Resolver{ConfigFile: cfg}).Resolve(ctx, []inventory.Spec{{Name: "diff"}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := hosts.NewDialer(hosts.Options{}).Dial(ctx, eps[0])
	if err == nil {
		err = tr.Run(ctx, &hosts.Command{Cmd: "true"})
		tr.Close()
	}
	return err == nil, recordedNames(t, kh, len(lines)), err
}

// recordedNames lists the names of the lines added after the first skip.
func recordedNames(t *testing.T, kh string, skip int) []string {
	b, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i < skip || l == "" {
			continue
		}
		names = append(names, strings.Fields(l)[0])
	}
	return names
}

// The in-process server listens on 127.0.0.1 at a port that is not 22:
// ports in known_hosts names, and CheckHostIP turned off for loopback.
func TestHostKeysLikeOpenSSHInProcess(t *testing.T) {
	keys := t.TempDir()
	pub, keyPath, err := sshtest.WriteUserKey(keys, "id_ed25519", "")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sshtest.Start(t.TempDir(), map[string]*sshtest.User{"u": {AuthorizedKeys: []ssh.PublicKey{pub}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	differentialHostKeys(t, keyServer{host: "127.0.0.1", port: srv.Port(), user: "u", identity: keyPath, key: srv.HostKey()})
}

// A real sshd at a lab address, on port 22 and on 2201: off loopback
// CheckHostIP applies (with a port other than 22 even when HostName is the
// address, as OpenSSH compares "[addr]:port" with it).
func TestLabHostKeysLikeOpenSSH(t *testing.T) {
	l := needLab(t)
	h := l.Hosts[1]
	out, err := l.Exec(labCtx(t), h, "cat /etc/ssh/ssh_host_ed25519_key.pub")
	if err != nil {
		t.Fatal(err)
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey(out)
	if err != nil {
		t.Fatal(err)
	}
	// Only the ed25519 key, so both clients get the same one whatever
	// their algorithm order.
	const pidFile = "/run/sshd-2201.pid"
	if _, err := l.Exec(labCtx(t), h, "/usr/sbin/sshd -p 2201 -o PidFile="+pidFile+" -o HostKey=/etc/ssh/ssh_host_ed25519_key"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Exec(context.Background(), h, "kill $(cat "+pidFile+")") })
	for _, port := range []int{22, 2201} {
		t.Run(strconv.Itoa(port), func(t *testing.T) {
			differentialHostKeys(t, keyServer{host: h.Address, port: port, user: lab.UserRoot, identity: l.ClientKey, key: key})
		})
	}
}
