package hosts_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/internal/sshtest"
	"github.com/plan-dev/plan/hosts/inventory"
)

type world struct {
	srv     *sshtest.Server
	keyPath string
	pub     ssh.PublicKey
	kh      string // known_hosts with the server's key
	dir     string
}

func newWorld(t *testing.T, users map[string]*sshtest.User) *world {
	t.Helper()
	w := &world{dir: t.TempDir()}
	var err error
	w.pub, w.keyPath, err = sshtest.WriteUserKey(w.dir, "id", "")
	if err != nil {
		t.Fatal(err)
	}
	if users == nil {
		users = map[string]*sshtest.User{}
	}
	for _, u := range users {
		if u.AuthorizedKeys == nil && u.Password == "" {
			u.AuthorizedKeys = []ssh.PublicKey{w.pub}
		}
	}
	w.srv, err = sshtest.Start(t.TempDir(), users)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.srv.Close)
	w.kh = filepath.Join(w.dir, "known_hosts")
	if err := w.srv.WriteKnownHosts(w.kh); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) endpoint(user string) *hosts.Endpoint {
	return &hosts.Endpoint{Name: "h", HostName: "127.0.0.1", Port: w.srv.Port(), User: user,
		IdentityFiles: []string{w.keyPath}, IdentitiesOnly: true, IdentityAgent: "none",
		StrictHostKeyChecking: hosts.HostKeyStrict, UserKnownHostsFiles: []string{w.kh},
		ConnectTimeout: 10 * time.Second}
}

func bg(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestUnknownHostKeyRefusedThenAccepted(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	ep := w.endpoint("u")
	ep.UserKnownHostsFiles = []string{filepath.Join(w.dir, "empty_known_hosts")}
	_, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep)
	if !errors.Is(err, hosts.ErrHostKeyUnknown) {
		t.Fatalf("want ErrHostKeyUnknown, got %v", err)
	}
	fp := ssh.FingerprintSHA256(w.srv.HostKey())
	if !strings.Contains(err.Error(), fp) || !strings.Contains(err.Error(), "--accept-new-host-keys") {
		t.Fatalf("error lacks fingerprint %s or the way to accept: %v", fp, err)
	}
	tr, err := hosts.NewDialer(hosts.Options{AcceptNewHostKeys: true}).Dial(bg(t), ep)
	if err != nil {
		t.Fatalf("accept-new: %v", err)
	}
	tr.Close()
	// recorded: a strict dial now works
	tr, err = hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep)
	if err != nil {
		t.Fatalf("strict dial after accepting: %v", err)
	}
	tr.Close()
}

func TestChangedHostKeyAlwaysRefused(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	if err := w.srv.NewHostKey(); err != nil {
		t.Fatal(err)
	}
	for _, policy := range []hosts.HostKeyPolicy{hosts.HostKeyStrict, hosts.HostKeyAcceptNew, hosts.HostKeyDangerousAcceptAny} {
		ep := w.endpoint("u")
		ep.StrictHostKeyChecking = policy
		_, err := hosts.NewDialer(hosts.Options{AcceptNewHostKeys: true}).Dial(bg(t), ep)
		if !errors.Is(err, hosts.ErrHostKeyChanged) || !strings.Contains(err.Error(), "CHANGED") {
			t.Fatalf("policy %s: want ErrHostKeyChanged, got %v", policy, err)
		}
	}
	b, _ := os.ReadFile(w.kh)
	if strings.Count(string(b), "\n") != 1 {
		t.Fatalf("known_hosts was modified:\n%s", b)
	}
}

func TestHangingHandshakeIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept, never speak
		}
	}()
	ep := &hosts.Endpoint{Name: "silent", HostName: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: "u",
		IdentityAgent: "none", ConnectTimeout: 500 * time.Millisecond}
	done := make(chan error, 1)
	go func() {
		_, err := hosts.NewDialer(hosts.Options{}).Dial(context.Background(), ep)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, hosts.ErrTimeout) {
			t.Fatalf("want ErrTimeout, got %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Dial still hanging after 30s with a 500ms ConnectTimeout")
	}
}

func TestAuthFailure(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	ep := w.endpoint("u")
	_, other, err := sshtest.WriteUserKey(w.dir, "other", "")
	if err != nil {
		t.Fatal(err)
	}
	ep.IdentityFiles = []string{other}
	ep.PasswordAuthentication = false
	_, err = hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep)
	if !errors.Is(err, hosts.ErrAuth) {
		t.Fatalf("want ErrAuth, got %v", err)
	}
}

func TestPasswordAskedOncePerRun(t *testing.T) {
	w1 := newWorld(t, map[string]*sshtest.User{"u": {Password: "pw one"}})
	w2 := newWorld(t, map[string]*sshtest.User{"u": {Password: "pw one"}})
	var asked atomic.Int32
	d := hosts.NewDialer(hosts.Options{Environ: []string{}, Prompt: func(ctx context.Context, q string, secret bool) (string, error) {
		asked.Add(1)
		if !secret {
			t.Error("password prompt not secret")
		}
		return "pw one", nil
	}})
	for _, w := range []*world{w1, w2} {
		ep := w.endpoint("u")
		ep.IdentityFiles = nil
		ep.PasswordAuthentication = true
		tr, err := d.Dial(bg(t), ep)
		if err != nil {
			t.Fatal(err)
		}
		tr.Close()
	}
	if asked.Load() != 1 {
		t.Fatalf("asked %d times, want 1", asked.Load())
	}
	// From the environment: no prompt at all.
	d2 := hosts.NewDialer(hosts.Options{Environ: []string{hosts.EnvSSHPassword + "=pw one"}})
	ep := w1.endpoint("u")
	ep.IdentityFiles, ep.PasswordAuthentication = nil, true
	tr, err := d2.Dial(bg(t), ep)
	if err != nil {
		t.Fatalf("password from env: %v", err)
	}
	tr.Close()
	if s := d2.Secrets(); len(s) != 1 || s[0] != "pw one" {
		t.Fatalf("Secrets() = %d entries", len(s))
	}
}

func TestEncryptedKeyPassphraseAskedOnce(t *testing.T) {
	dir := t.TempDir()
	pub, key, err := sshtest.WriteUserKey(dir, "enc", "a passphrase")
	if err != nil {
		t.Fatal(err)
	}
	w1 := newWorld(t, map[string]*sshtest.User{"u": {AuthorizedKeys: []ssh.PublicKey{pub}}})
	w2 := newWorld(t, map[string]*sshtest.User{"u": {AuthorizedKeys: []ssh.PublicKey{pub}}})
	var asked atomic.Int32
	d := hosts.NewDialer(hosts.Options{Prompt: func(ctx context.Context, q string, secret bool) (string, error) {
		asked.Add(1)
		if !strings.Contains(q, key) {
			t.Errorf("prompt %q does not name the key", q)
		}
		return "a passphrase", nil
	}})
	for _, w := range []*world{w1, w2} {
		ep := w.endpoint("u")
		ep.IdentityFiles = []string{key}
		tr, err := d.Dial(bg(t), ep)
		if err != nil {
			t.Fatal(err)
		}
		tr.Close()
	}
	if asked.Load() != 1 {
		t.Fatalf("asked %d times, want 1", asked.Load())
	}
}

func TestConnectionDroppedMidCommandThenRedial(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	tr, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), w.endpoint("u"))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(bg(t), &hosts.Command{Cmd: "echo go; sleep 30", Stdout: writerFunc(func(p []byte) { closeOnce(started) })})
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("command did not start")
	}
	w.srv.DropConnections()
	select {
	case err := <-done:
		if !errors.Is(err, hosts.ErrConnLost) {
			t.Fatalf("want ErrConnLost, got %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not notice the dropped connection")
	}
	var out bytes.Buffer
	if err := tr.Run(bg(t), &hosts.Command{Cmd: "echo again", Stdout: &out}); err != nil || out.String() != "again\n" {
		t.Fatalf("after re-dial: %q %v", out.String(), err)
	}
}

func TestWrongSudoPassword(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"plan": {SudoPassword: "right"}})
	d := hosts.NewDialer(hosts.Options{Environ: []string{hosts.EnvSudoPassword + "=wrong-pw"}})
	tr, err := d.Dial(bg(t), w.endpoint("plan"))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var out, errb bytes.Buffer
	err = tr.Run(bg(t), &hosts.Command{Cmd: "cat", Sudo: true, Stdin: strings.NewReader("right\nmore"), Stdout: &out, Stderr: &errb})
	if !errors.Is(err, hosts.ErrSudoPassword) {
		t.Fatalf("want ErrSudoPassword, got %v", err)
	}
	// The caller's stdin ("right\n") must never reach sudo as a retry.
	if out.Len() != 0 {
		t.Fatalf("command ran: %q", out.String())
	}
	for _, s := range []string{err.Error(), errb.String()} {
		if strings.Contains(s, "wrong-pw") {
			t.Fatalf("password leaked: %q", s)
		}
	}
}

func TestSudoWithoutPasswordSource(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"plan": {SudoPassword: "right"}})
	tr, err := hosts.NewDialer(hosts.Options{Environ: []string{}}).Dial(bg(t), w.endpoint("plan"))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	err = tr.Run(bg(t), &hosts.Command{Cmd: "true", Sudo: true})
	if !errors.Is(err, hosts.ErrSudoPassword) || !strings.Contains(err.Error(), hosts.EnvSudoPassword) {
		t.Fatalf("want ErrSudoPassword naming %s, got %v", hosts.EnvSudoPassword, err)
	}
}

func TestJumpHost(t *testing.T) {
	target := newWorld(t, map[string]*sshtest.User{"u": {}})
	jump := newWorld(t, map[string]*sshtest.User{"hop": {}})
	ep := target.endpoint("u")
	ep.Jump = jump.endpoint("hop")
	ep.ProxyJump = "hop@127.0.0.1"
	tr, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	before := jump.srv.Execs()
	var out bytes.Buffer
	if err := tr.Run(bg(t), &hosts.Command{Cmd: "echo via jump", Stdout: &out}); err != nil || out.String() != "via jump\n" {
		t.Fatalf("%q %v", out.String(), err)
	}
	if jump.srv.Execs() != before {
		t.Fatal("the command ran on the jump host")
	}
	// The hop needs its own key and known_hosts, which ssh -J cannot
	// pass on: the command spells them out in a ProxyCommand.
	cmd := ep.SSHCommand("true")
	for _, want := range []string{"ProxyCommand=ssh ", "-i " + jump.keyPath, "-W %h:%p -- hop@127.0.0.1", "-- u@127.0.0.1 true"} {
		if !strings.Contains(cmd, want) {
			t.Fatalf("SSHCommand lacks %q: %s", want, cmd)
		}
	}
}

// ProxyJump a,b: dialing hop b goes through hop a, which used to take the
// lock the dial of b already held and hang past every context.
func TestTwoHopJump(t *testing.T) {
	target := newWorld(t, map[string]*sshtest.User{"u": {}})
	first := newWorld(t, map[string]*sshtest.User{"hop1": {}})
	second := newWorld(t, map[string]*sshtest.User{"hop2": {}})
	ep := target.endpoint("u")
	ep.Jump = second.endpoint("hop2")
	ep.Jump.Jump = first.endpoint("hop1")
	ep.ProxyJump = "hop1@127.0.0.1,hop2@127.0.0.1"
	ep.Jump.ProxyJump = "hop1@127.0.0.1"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := hosts.NewDialer(hosts.Options{})
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		tr, err := d.Dial(ctx, ep)
		if err == nil {
			err = tr.Run(ctx, &hosts.Command{Cmd: "echo two hops", Stdout: &out})
			tr.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil || out.String() != "two hops\n" {
			t.Fatalf("%q %v", out.String(), err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a two-hop dial hung past its context")
	}
	if first.srv.Execs() != 0 || second.srv.Execs() != 0 {
		t.Fatal("the command ran on a jump host")
	}
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func TestHashedKnownHostsRecordedAndRead(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	ep := w.endpoint("u")
	ep.UserKnownHostsFiles = []string{filepath.Join(w.dir, "kh_hashed")}
	ep.HashKnownHosts = true
	tr, err := hosts.NewDialer(hosts.Options{AcceptNewHostKeys: true}).Dial(bg(t), ep)
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	b, _ := os.ReadFile(ep.UserKnownHostsFiles[0])
	if !strings.HasPrefix(string(b), "|1|") || strings.Contains(string(b), "127.0.0.1") {
		t.Fatalf("not hashed: %q", b)
	}
	tr, err = hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep)
	if err != nil {
		t.Fatalf("strict dial with the hashed entry: %v", err)
	}
	tr.Close()
}

func TestCertAuthorityHostKey(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	_, caPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ssh.NewSignerFromKey(caPriv)
	if err != nil {
		t.Fatal(err)
	}
	ep := w.endpoint("u")
	ep.UserKnownHostsFiles = []string{filepath.Join(w.dir, "kh_ca")}
	line := fmt.Sprintf("@cert-authority [127.0.0.1]:%d %s", w.srv.Port(), ssh.MarshalAuthorizedKey(ca.PublicKey()))
	if err := os.WriteFile(ep.UserKnownHostsFiles[0], []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	// A plain key is unknown: only certificates from the CA are trusted.
	if _, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep); !errors.Is(err, hosts.ErrHostKeyUnknown) {
		t.Fatalf("plain key with only a CA line: want ErrHostKeyUnknown, got %v", err)
	}
	if err := w.srv.UseHostCertificate(ca, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	tr, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep)
	if err != nil {
		t.Fatalf("certificate signed by the known CA: %v", err)
	}
	tr.Close()
	// A client that knows nothing about this host sees its plain key as
	// unknown (not an untrusted certificate) and can record it.
	ep.UserKnownHostsFiles = []string{filepath.Join(w.dir, "kh_empty")}
	if _, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep); !errors.Is(err, hosts.ErrHostKeyUnknown) {
		t.Fatalf("want ErrHostKeyUnknown, got %v", err)
	}
}

func TestJumpConnectionSharedAndRedialed(t *testing.T) {
	a := newWorld(t, map[string]*sshtest.User{"u": {}})
	b := newWorld(t, map[string]*sshtest.User{"u": {}})
	jump := newWorld(t, map[string]*sshtest.User{"hop": {}})
	d := hosts.NewDialer(hosts.Options{})
	var trs []hosts.Transport
	for _, w := range []*world{a, b} {
		ep := w.endpoint("u")
		ep.Jump = jump.endpoint("hop")
		tr, err := d.Dial(bg(t), ep)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		trs = append(trs, tr)
	}
	if n := jump.srv.Accepted(); n != 1 {
		t.Fatalf("two targets behind one jump host made %d jump connections, want 1", n)
	}
	// The jump host drops everything: both targets fail, then re-dial
	// through one new jump connection.
	jump.srv.DropConnections()
	for _, tr := range trs {
		var out bytes.Buffer
		var err error
		for i := 0; i < 2; i++ { // the first call may still see the old connection die
			out.Reset()
			if err = tr.Run(bg(t), &hosts.Command{Cmd: "echo ok", Stdout: &out}); err == nil {
				break
			}
			if !errors.Is(err, hosts.ErrConnLost) {
				t.Fatalf("want ErrConnLost or success, got %v", err)
			}
		}
		if err != nil || out.String() != "ok\n" {
			t.Fatalf("after the jump host dropped: %q %v", out.String(), err)
		}
	}
	if n := jump.srv.Accepted(); n != 2 {
		t.Fatalf("re-dial made %d jump connections in all, want 2", n)
	}
}

func TestUserCertificateFromKeyCertPub(t *testing.T) {
	_, caPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := ssh.NewSignerFromKey(caPriv)
	dir := t.TempDir()
	pub, key, err := sshtest.WriteUserKey(dir, "id_cert", "")
	if err != nil {
		t.Fatal(err)
	}
	// The server trusts only the CA, not the key itself.
	w := newWorld(t, map[string]*sshtest.User{"u": {UserCA: ca.PublicKey(), AuthorizedKeys: []ssh.PublicKey{}}})
	ep := w.endpoint("u")
	ep.IdentityFiles = []string{key}
	ep.PasswordAuthentication = false
	if _, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep); !errors.Is(err, hosts.ErrAuth) {
		t.Fatalf("without a certificate: want ErrAuth, got %v", err)
	}
	cert := &ssh.Certificate{Key: pub, CertType: ssh.UserCert, KeyId: "test", ValidPrincipals: []string{"u"},
		ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key+"-cert.pub", ssh.MarshalAuthorizedKey(cert), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep)
	if err != nil {
		t.Fatalf("with KEY-cert.pub: %v", err)
	}
	tr.Close()
	// The same certificate named by CertificateFile, elsewhere.
	elsewhere := filepath.Join(t.TempDir(), "user-cert.pub")
	if err := os.Rename(key+"-cert.pub", elsewhere); err != nil {
		t.Fatal(err)
	}
	ep.CertificateFiles = []string{elsewhere}
	tr, err = hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep)
	if err != nil {
		t.Fatalf("with CertificateFile: %v", err)
	}
	tr.Close()
}

func TestProxyCommandThroughOpenSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no OpenSSH client")
	}
	target := newWorld(t, map[string]*sshtest.User{"u": {}})
	jump := newWorld(t, map[string]*sshtest.User{"hop": {}})
	// Resolve through ssh_config so the %-tokens are expanded by plan.
	cfg := filepath.Join(t.TempDir(), "config")
	text := fmt.Sprintf("Host viaproxy\n  HostName 127.0.0.1\n  Port %d\n  User u\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile %s\n"+
		"  ProxyCommand ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i %s -o UserKnownHostsFile=%s -p %d -W %%h:%%p hop@127.0.0.1\n",
		target.srv.Port(), target.keyPath, target.kh, jump.keyPath, jump.kh, jump.srv.Port())
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	eps, err := (&inventory.Resolver{ConfigFile: cfg}).Resolve(bg(t), []inventory.Spec{{Name: "viaproxy"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(eps[0].ProxyCommand, fmt.Sprintf("-W 127.0.0.1:%d", target.srv.Port())) {
		t.Fatalf("tokens not expanded: %q", eps[0].ProxyCommand)
	}
	tr, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), eps[0])
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tr.Run(bg(t), &hosts.Command{Cmd: "echo proxied", Stdout: &out}); err != nil || out.String() != "proxied\n" {
		t.Fatalf("%q %v", out.String(), err)
	}
	tr.Close()
	if jump.srv.Accepted() != 1 || jump.srv.Execs() != 0 {
		t.Fatalf("jump server: %d connections, %d execs", jump.srv.Accepted(), jump.srv.Execs())
	}
}

func TestSudoPasswordRedactedFromStderrTail(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"plan": {SudoPassword: "pw-to-hide"}})
	d := hosts.NewDialer(hosts.Options{Environ: []string{hosts.EnvSudoPassword + "=pw-to-hide"}})
	tr, err := d.Dial(bg(t), w.endpoint("plan"))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// A command that (wrongly) prints the secret it was given.
	err = tr.Run(bg(t), &hosts.Command{Cmd: `echo "leaking $P" >&2; exit 4`, Sudo: true, Env: map[string]string{"P": "pw-to-hide"}})
	var ee *hosts.ExitError
	if !errors.As(err, &ee) || ee.Code != 4 {
		t.Fatalf("want exit 4, got %v", err)
	}
	if strings.Contains(ee.StderrTail, "pw-to-hide") || !strings.Contains(ee.StderrTail, "leaking "+hosts.Mask) {
		t.Fatalf("stderr tail not redacted: %q", ee.StderrTail)
	}
	// A script on stdin under sudo: the password is consumed by sudo, the
	// whole script reaches the shell.
	var out bytes.Buffer
	script := "x='a b'\necho \"one $x\"\necho two\n"
	if err := tr.Run(bg(t), &hosts.Command{Cmd: "/bin/sh -s", Sudo: true, Stdin: strings.NewReader(script), Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "one a b\ntwo\n" {
		t.Fatalf("script output %q", out.String())
	}
}

// Typing a password takes longer than ConnectTimeout: the handshake clock
// stops while the prompt waits.
func TestSlowPromptDoesNotHitConnectTimeout(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {Password: "typed slowly"}})
	d := hosts.NewDialer(hosts.Options{Environ: []string{}, Prompt: func(ctx context.Context, q string, secret bool) (string, error) {
		time.Sleep(4 * time.Second)
		return "typed slowly", nil
	}})
	ep := w.endpoint("u")
	ep.IdentityFiles, ep.PasswordAuthentication = nil, true
	ep.ConnectTimeout = 2 * time.Second
	tr, err := d.Dial(bg(t), ep)
	if err != nil {
		t.Fatalf("a 4s prompt under a 2s ConnectTimeout: %v", err)
	}
	tr.Close()
}

// HostKeyAlias with a port is looked up, and recorded, as the alias
// alone, as OpenSSH does (port-forwarded hosts, bastions, Vagrant).
func TestHostKeyAliasIgnoresPort(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	ep := w.endpoint("u")
	ep.HostKeyAlias = "10.78.0.11"
	ep.UserKnownHostsFiles = []string{filepath.Join(w.dir, "kh_alias")}
	line := "10.78.0.11 " + string(ssh.MarshalAuthorizedKey(w.srv.HostKey()))
	if err := os.WriteFile(ep.UserKnownHostsFiles[0], []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep)
	if err != nil {
		t.Fatalf("known under its alias: %v", err)
	}
	tr.Close()
	ep.UserKnownHostsFiles = []string{filepath.Join(w.dir, "kh_alias_new")}
	tr, err = hosts.NewDialer(hosts.Options{AcceptNewHostKeys: true}).Dial(bg(t), ep)
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if b, _ := os.ReadFile(ep.UserKnownHostsFiles[0]); !strings.HasPrefix(string(b), "10.78.0.11 ssh-") {
		t.Fatalf("recorded as %q, want the alias alone", b)
	}
}

// hangingProxy forwards TCP to target until hang is called; from then on
// it drops the connections it forwarded and accepts new ones that never
// get an answer.
type hangingProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	hung  bool
	conns []net.Conn
}

func newHangingProxy(t *testing.T, target string) *hangingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hangingProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.hang() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			hung := p.hung
			p.mu.Unlock()
			if hung {
				continue // accepted, never answered
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *hangingProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *hangingProxy) hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Close does not wait for a re-dial stuck in a handshake (no lock is held
// across network I/O), and the re-dial gives up when the transport closes.
func TestCloseDoesNotWaitForAStuckRedial(t *testing.T) {
	w := newWorld(t, map[string]*sshtest.User{"u": {}})
	p := newHangingProxy(t, fmt.Sprintf("127.0.0.1:%d", w.srv.Port()))
	ep := w.endpoint("u")
	ep.Port = p.port()
	ep.ConnectTimeout = time.Minute
	line := fmt.Sprintf("[127.0.0.1]:%d %s", p.port(), ssh.MarshalAuthorizedKey(w.srv.HostKey()))
	if err := os.WriteFile(w.kh, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := hosts.NewDialer(hosts.Options{}).Dial(bg(t), ep)
	if err != nil {
		t.Fatal(err)
	}
	p.hang()
	ran := make(chan error, 1)
	go func() { ran <- tr.Run(bg(t), &hosts.Command{Cmd: "true"}) }()
	time.Sleep(500 * time.Millisecond) // the Run is re-dialing now (not an ordering the test relies on)
	closed := make(chan struct{})
	go func() { tr.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a re-dial stuck in its handshake")
	}
	select {
	case err := <-ran:
		if err == nil {
			t.Fatal("Run succeeded on a closed transport")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stuck re-dial did not give up when the transport closed")
	}
}
