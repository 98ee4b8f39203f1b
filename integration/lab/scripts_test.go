package lab

import (
	"os/exec"
	"testing"
)

// The CI entry point and the README's two commands are shell scripts owned
// with the lab; shellcheck keeps them honest (CI installs it).
func TestScriptsShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck not installed")
	}
	scripts := []string{"../../.ci/run", "../test.sh", "../demo.sh", "../prereqs.sh"}
	out, err := exec.Command("shellcheck", scripts...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck %v: %v\n%s", scripts, err, out)
	}
}
