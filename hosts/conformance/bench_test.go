package conformance

// Benchmarks against a real sshd lab host, each next to OpenSSH in the same
// run:
//
//	go test ./hosts/conformance -run '^$' -bench Lab -benchtime 1x
//
// The command benchmark runs 1,000 sequential `true` per iteration: plan's
// transport on one connection (reused shells, and a session per command)
// vs `ssh` reusing a ControlMaster connection.
// The push benchmark sends 256 MiB: plan's Push (sha256 check, sftp
// concurrent writes, verify, rename) vs `scp`.

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/plan-dev/plan/hosts"
	"github.com/plan-dev/plan/hosts/inventory"
	"github.com/plan-dev/plan/integration/lab"
)

const benchCommands = 1000

func benchLab(b *testing.B) *lab.Lab {
	if os.Geteuid() != 0 {
		b.Skip("the lab needs root")
	}
	labOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		theLab, labErr = lab.Up(ctx, lab.Options{Hosts: 2, Name: "hosts-conformance"})
	})
	if labErr != nil {
		b.Fatalf("lab: %v", labErr)
	}
	return theLab
}

func benchTransport(b *testing.B, l *lab.Lab, opts ...hosts.Options) hosts.Transport {
	h := l.Hosts[0]
	eps, err := (&inventory.Resolver{ConfigFile: l.SSHConfig}).Resolve(context.Background(), []inventory.Spec{{Name: h.Alias}})
	if err != nil {
		b.Fatal(err)
	}
	var o hosts.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	tr, err := hosts.NewDialer(o).Dial(context.Background(), eps[0])
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tr.Close() })
	return tr
}

func sshArgs(l *lab.Lab, control string) []string {
	return []string{"-F", l.SSHConfig, "-o", "ControlMaster=auto", "-o", "ControlPath=" + control, "-o", "ControlPersist=120"}
}

func BenchmarkLab1000Commands(b *testing.B) {
	l := benchLab(b)
	h := l.Hosts[0]
	for _, mode := range []struct {
		name string
		opts hosts.Options
	}{{"plan", hosts.Options{}}, {"plan-session-per-command", hosts.Options{SessionPerCommand: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			tr := benchTransport(b, l, mode.opts)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := 0; j < benchCommands; j++ {
					if err := tr.Run(ctx, &hosts.Command{Cmd: "true"}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*benchCommands)/b.Elapsed().Seconds(), "cmds/s")
		})
	}
	b.Run("openssh-controlmaster", func(b *testing.B) {
		control := filepath.Join(b.TempDir(), "cm")
		args := append(sshArgs(l, control), h.Alias, "true")
		if out, err := exec.Command("ssh", args...).CombinedOutput(); err != nil { // start the master
			b.Fatalf("ssh: %v: %s", err, out)
		}
		b.Cleanup(func() { exec.Command("ssh", append(sshArgs(l, control), "-O", "exit", h.Alias)...).Run() })
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for j := 0; j < benchCommands; j++ {
				if out, err := exec.Command("ssh", args...).CombinedOutput(); err != nil {
					b.Fatalf("ssh: %v: %s", err, out)
				}
			}
		}
		b.ReportMetric(float64(b.N*benchCommands)/b.Elapsed().Seconds(), "cmds/s")
	})
}

func BenchmarkLabPush256MiB(b *testing.B) {
	l := benchLab(b)
	h := l.Hosts[0]
	const size = 256 << 20
	local := filepath.Join(b.TempDir(), "big")
	f, err := os.Create(local)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	cleanRemote := func(b *testing.B) {
		if _, err := l.Exec(context.Background(), h, "rm -f /root/bench-plan /root/bench-scp"); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("plan", func(b *testing.B) {
		tr := benchTransport(b, l)
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			cleanRemote(b)
			b.StartTimer()
			r, err := tr.Push(context.Background(), &hosts.Upload{Path: "/root/bench-plan", LocalPath: local})
			if err != nil || !r.Changed {
				b.Fatalf("push: %+v %v", r, err)
			}
		}
	})
	b.Run("scp", func(b *testing.B) {
		control := filepath.Join(b.TempDir(), "cm")
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			cleanRemote(b)
			b.StartTimer()
			args := append(sshArgs(l, control), local, h.Alias+":/root/bench-scp")
			if out, err := exec.Command("scp", args...).CombinedOutput(); err != nil {
				b.Fatalf("scp: %v: %s", err, out)
			}
		}
		b.StopTimer()
		exec.Command("ssh", append(sshArgs(l, control), "-O", "exit", h.Alias)...).Run()
	})
	cleanRemote(b)
}
