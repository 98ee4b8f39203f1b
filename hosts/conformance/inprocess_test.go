package conformance

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/internal/sshtest"
)

// inProcess starts the in-process server with a user that needs a sudo
// password (fed from the environment) and returns a factory connecting as
// that user.
func inProcess(t *testing.T, user string, sessionPerCommand ...bool) Factory {
	return func(t *testing.T) *Target {
		dir := t.TempDir()
		keys := t.TempDir()
		pub, keyPath, err := sshtest.WriteUserKey(keys, "id_ed25519", "")
		if err != nil {
			t.Fatal(err)
		}
		users := map[string]*sshtest.User{
			"plan": {AuthorizedKeys: []ssh.PublicKey{pub}, SudoPassword: "s3cret sudo"},
			"nopw": {AuthorizedKeys: []ssh.PublicKey{pub}},
		}
		srv, err := sshtest.Start(dir, users)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		kh := filepath.Join(keys, "known_hosts")
		if err := srv.WriteKnownHosts(kh); err != nil {
			t.Fatal(err)
		}
		ep := &hosts.Endpoint{Name: "inproc", HostName: "127.0.0.1", Port: srv.Port(), User: user,
			IdentityFiles: []string{keyPath}, IdentitiesOnly: true, IdentityAgent: "none",
			StrictHostKeyChecking: hosts.HostKeyStrict, UserKnownHostsFiles: []string{kh}}
		d := hosts.NewDialer(hosts.Options{Environ: []string{hosts.EnvSudoPassword + "=s3cret sudo"},
			SessionPerCommand: len(sessionPerCommand) > 0 && sessionPerCommand[0]})
		tr, err := d.Dial(context.Background(), ep)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		work := filepath.Join(dir, "work")
		if err := os.Mkdir(work, 0o755); err != nil {
			t.Fatal(err)
		}
		return &Target{Transport: tr, Dir: work, Sudo: true, SudoIsRoot: os.Geteuid() == 0, FilesVisibleToRun: true}
	}
}

func TestInProcessSudoPassword(t *testing.T) { Run(t, inProcess(t, "plan")) }

func TestInProcessPasswordlessSudo(t *testing.T) { Run(t, inProcess(t, "nopw")) }

// The same suite with a session per command instead of reused shells.
func TestInProcessSessionPerCommand(t *testing.T) { Run(t, inProcess(t, "plan", true)) }
