package conformance

import (
	"testing"

	"github.com/plan-dev/plan/hosts"
)

func TestFake(t *testing.T) {
	Run(t, func(t *testing.T) *Target {
		f := hosts.NewFake("fake")
		f.Handler = hosts.FakeShell(t.TempDir())
		t.Cleanup(func() { f.Close() })
		// FakeShell ignores Sudo (runs as the test user): sudo cases run, root-only ones skip.
		return &Target{Transport: f, Dir: "/srv/conformance", Sudo: true}
	})
}
