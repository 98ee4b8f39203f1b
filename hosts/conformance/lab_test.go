package conformance

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/inventory"
	"github.com/plan-dev/plan/integration/lab"
)

// One light lab (two real sshd hosts) serves every lab test of this
// package; TestMain tears it down.
var (
	labOnce sync.Once
	theLab  *lab.Lab
	labErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theLab != nil {
		if err := theLab.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "lab close:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func needLab(t *testing.T) *lab.Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root (CI runs as root)")
	}
	labOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		theLab, labErr = lab.Up(ctx, lab.Options{Hosts: 2, Name: "hosts-conformance"})
	})
	if labErr != nil {
		t.Fatalf("lab: %v", labErr)
	}
	return theLab
}

// labEndpoint resolves lab host h as user through the lab's ssh_config,
// the way `plan` resolves a user's hosts.
func labEndpoint(t *testing.T, l *lab.Lab, h *lab.Host, user string) *hosts.Endpoint {
	t.Helper()
	r := &inventory.Resolver{ConfigFile: l.SSHConfig}
	eps, err := r.Resolve(context.Background(), []inventory.Spec{{Name: h.Alias, User: user}})
	if err != nil {
		t.Fatal(err)
	}
	return eps[0]
}

func labDialer(t *testing.T, l *lab.Lab) *hosts.Dialer {
	t.Helper()
	pw, err := l.Password()
	if err != nil {
		t.Fatal(err)
	}
	return hosts.NewDialer(hosts.Options{Environ: []string{hosts.EnvSudoPassword + "=" + pw}})
}

func labFactory(user string) Factory {
	return func(t *testing.T) *Target {
		l := needLab(t)
		h := l.Hosts[0]
		tr, err := labDialer(t, l).Dial(context.Background(), labEndpoint(t, l, h, user))
		if err != nil {
			t.Fatal(err)
		}
		dir := fmt.Sprintf("/tmp/conformance-%s-%d", user, time.Now().UnixNano())
		if _, err := l.Exec(context.Background(), h, fmt.Sprintf("mkdir -m 0755 %s && chown %s: %s", dir, user, dir)); err != nil {
			tr.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() {
			tr.Close()
			l.Exec(context.Background(), h, "rm -rf "+dir)
		})
		return &Target{Transport: tr, Dir: dir, Sudo: true, SudoIsRoot: true, FilesVisibleToRun: true}
	}
}

func TestLabSudoPasswordUser(t *testing.T)     { Run(t, labFactory(lab.UserPlan)) }
func TestLabPasswordlessSudoUser(t *testing.T) { Run(t, labFactory(lab.UserNopw)) }
func TestLabRoot(t *testing.T)                 { Run(t, labFactory(lab.UserRoot)) }
