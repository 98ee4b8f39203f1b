package artifacts

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/plan-dev/plan/integration/artifacts/debpkg"
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
	args := append([]string{"install", "-y", "-q", "--no-install-recommends"}, pkgs...)
	if err := debpkg.AptGet(ctx, bc.log, bc.workDir, args...); err != nil {
		return fmt.Errorf("install build dependencies: %w", err)
	}
	return nil
}
