package artifacts

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// ensureDebianPackages makes sure each file exists, installing the Debian package named for
// it with apt-get when it does not (only as root; otherwise it says what to install). These
// are build-time tools and C libraries (runc's libseccomp), not artifacts.
func ensureDebianPackages(ctx context.Context, bc buildContext, fileToPackage map[string]string) error {
	want := map[string]bool{}
	for file, pkg := range fileToPackage {
		if _, err := os.Stat(file); err != nil {
			want[pkg] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	var pkgs []string
	for p := range want {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	if os.Geteuid() != 0 {
		return fmt.Errorf("missing build dependencies: run `apt-get install %s` as root", strings.Join(pkgs, " "))
	}
	fmt.Fprintf(bc.log, "+ apt-get install -y %s\n", strings.Join(pkgs, " "))
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"install", "-y", "-q", "--no-install-recommends"}, pkgs...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = bc.log, bc.log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get install %s (run apt-get update first?): %w", strings.Join(pkgs, " "), err)
	}
	return nil
}
