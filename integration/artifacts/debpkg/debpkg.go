package debpkg

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Unpack downloads packages (names as apt knows them, optionally name=version) into
// workDir/debs and extracts them all into root. It returns the exact package files used, so
// the caller can record versions.
func Unpack(ctx context.Context, log io.Writer, workDir, root string, packages []string) ([]string, error) {
	debs := filepath.Join(workDir, "debs")
	// A fresh download directory, so an older .deb of the same package from an earlier run
	// is never the one unpacked.
	if err := os.RemoveAll(debs); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	// apt-get download drops privileges to _apt, which must be able to write there.
	_ = os.Chmod(debs, 0o777)
	args := append([]string{"download", "-q"}, packages...)
	if err := AptGet(ctx, log, debs, args...); err != nil {
		return nil, err
	}
	var used []string
	for _, p := range packages {
		name, _, _ := strings.Cut(p, "=")
		matches, err := filepath.Glob(filepath.Join(debs, name+"_*.deb"))
		if err != nil || len(matches) == 0 {
			return nil, fmt.Errorf("apt-get download %s left no .deb in %s", name, debs)
		}
		deb := matches[len(matches)-1]
		if err := run(ctx, log, debs, "dpkg", "-x", deb, root); err != nil {
			return nil, fmt.Errorf("dpkg -x %s: %w", deb, err)
		}
		used = append(used, filepath.Base(deb))
	}
	return used, nil
}

func run(ctx context.Context, log io.Writer, dir, name string, args ...string) error {
	if log == nil {
		log = io.Discard
	}
	fmt.Fprintf(log, "+ (cd %s && %s %s)\n", dir, name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = log, log
	return cmd.Run()
}

// AptGet runs apt-get with args in dir. When it fails and we are root, it runs `apt-get
// update` once and tries again: on a fresh machine the package lists may never have been
// fetched.
func AptGet(ctx context.Context, log io.Writer, dir string, args ...string) error {
	err := run(ctx, log, dir, "apt-get", args...)
	if err == nil || os.Geteuid() != 0 || ctx.Err() != nil {
		if err != nil {
			return fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
		}
		return nil
	}
	if uerr := run(ctx, log, dir, "apt-get", "update", "-q"); uerr != nil {
		return fmt.Errorf("apt-get %s: %w (and apt-get update: %v)", strings.Join(args, " "), err, uerr)
	}
	if err := run(ctx, log, dir, "apt-get", args...); err != nil {
		return fmt.Errorf("apt-get %s (after apt-get update): %w", strings.Join(args, " "), err)
	}
	return nil
}
