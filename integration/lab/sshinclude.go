package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/plan-dev/plan/internal/atomicfile"
)

// InstallSSHInclude makes every lab host reachable by its alias
// (plabID-hN) for ssh and for plan's ssh_config resolution: it puts
// "Include DATA/lab*/ssh_config" at the top of the current user's
// ~/.ssh/config (OpenSSH only honours an Include outside Host blocks), once.
// It reports the file and whether it changed it.
func InstallSSHInclude() (path string, added bool, err error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", false, fmt.Errorf("lab: home directory: %w", err)
	}
	dataDir := os.Getenv("PLAN_LAB_DIR")
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	line := "Include " + filepath.Join(dataDir, "lab*", "ssh_config")
	path = filepath.Join(home, ".ssh", "config")
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return path, false, fmt.Errorf("lab: read %s: %w", path, err)
	}
	for _, l := range strings.Split(string(old), "\n") {
		if strings.TrimSpace(l) == line {
			return path, false, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return path, false, fmt.Errorf("lab: %w", err)
	}
	content := "# plan lab hosts (plan lab ssh-config --install)\n" + line + "\n\n" + string(old)
	if err := atomicfile.WriteFile(path, []byte(content), 0o600); err != nil {
		return path, false, fmt.Errorf("lab: install %s: %w", path, err)
	}
	return path, true, nil
}
