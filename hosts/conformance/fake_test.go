package conformance

import (
	"testing"

	"github.com/plan-dev/plan/hosts/hoststest"
)

func TestFake(t *testing.T) {
	Run(t, func(t *testing.T) *Target {
		f := hoststest.NewFake("fake")
		f.Handler = hoststest.FakeShell(t.TempDir())
		t.Cleanup(func() { f.Close() })
		// FakeShell ignores Sudo (runs as the test user): sudo cases run, root-only ones skip.
		return &Target{Transport: f, Dir: "/srv/conformance", Sudo: true}
	})
}
