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
		return &Target{Transport: f, Dir: "/srv/conformance"}
	})
}
