package lab

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A start that fails half-way (the second host has no sshd) returns an
// error and leaves nothing behind.
func TestFailedUpLeavesNothing(t *testing.T) {
	needRoot(t)
	var made *Lab
	testHookHostMade = func(l *Lab, h *Host) {
		made = l
		if h.Name == "h2" {
			_ = os.Remove(filepath.Join(h.Root, "usr/sbin/sshd"))
		}
	}
	defer func() { testHookHostMade = nil }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, err := Up(ctx, Options{Hosts: 3, Logf: t.Logf, ReadyTimeout: 30 * time.Second})
	if err == nil {
		l.Close()
		t.Fatal("Up succeeded with a host that has no sshd")
	}
	t.Logf("Up failed as it should: %v", err)
	if made == nil {
		t.Fatal("the hook never ran")
	}
	assertGone(t, made)
}

// A test lab whose process died without Close is torn down by the next Up,
// which takes over its id.
func TestStaleLabIsReclaimed(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stale, err := Up(ctx, Options{Hosts: 2, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	// Pretend its owner is gone: no process has a PID above pid_max.
	stale.Owner = Proc{PID: 1 << 30, Start: 1}
	if err := stale.save(); err != nil {
		stale.Close()
		t.Fatal(err)
	}
	fresh := upLab(t, Options{Hosts: 1})
	if fresh.ID != stale.ID {
		// Another package's lab may hold a lower id meanwhile; ours must
		// still be gone.
		t.Logf("fresh lab got id %d, stale one had %d", fresh.ID, stale.ID)
		if _, err := os.Stat(claimPath(stale.ID)); err == nil {
			stale.Close()
			t.Fatalf("stale lab %d still claimed", stale.ID)
		}
	}
	for _, h := range stale.Hosts {
		if h.Proc.Alive() {
			t.Errorf("stale host %s still runs", h.Name)
		}
	}
	if _, err := os.Stat("/run/netns/" + stale.Hosts[1].Netns); err == nil && fresh.ID == stale.ID {
		t.Errorf("stale netns %s still exists", stale.Hosts[1].Netns)
	}
}

// Labs brought up at the same moment get distinct ids and networks.
func TestConcurrentLabs(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	labs := make([]*Lab, 3)
	errs := make(chan error, len(labs))
	for i := range labs {
		go func() {
			l, err := Up(ctx, Options{Hosts: 1, Logf: t.Logf})
			labs[i] = l
			errs <- err
		}()
	}
	for range labs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	ids := map[int]bool{}
	for _, l := range labs {
		if l == nil {
			continue
		}
		defer func() {
			if err := l.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			assertGone(t, l)
		}()
		if ids[l.ID] {
			t.Errorf("two labs got id %d", l.ID)
		}
		ids[l.ID] = true
		if got := mustRun(t, l, l.Hosts[0], UserRoot, "ip -4 -o addr show eth0 | awk '{print $4}'", ""); got != l.Hosts[0].Address+"/24" {
			t.Errorf("lab %d: eth0 has %q, want %s/24", l.ID, got, l.Hosts[0].Address)
		}
	}
}
