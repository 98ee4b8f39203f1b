package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	builtinplans "github.com/plan-dev/plan/builtin-plans"
)

func init() {
	register(&command{
		name:    "init",
		summary: "write a built-in plan into ./NAME/ for editing (plan init NAME [DIR])",
		run:     runInit,
	})
}

func runInit(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("init", stderr)
	if code, ok := parseFlags(fl, args, stderr); !ok {
		return code
	}
	rest := fl.Args()
	if len(rest) == 0 || len(rest) > 2 {
		fmt.Fprintf(stderr, "usage: plan init NAME [DIR]\n\nBuilt-in plans: %s\n", builtinNames())
		return exitUsage
	}
	bp, ok := builtinplans.Lookup(rest[0])
	if !ok {
		fmt.Fprintf(stderr, "plan init: no built-in plan %q (built-ins: %s)\n", rest[0], builtinNames())
		return exitUsage
	}
	dest := bp.Name
	if len(rest) == 2 {
		dest = rest[1]
	}
	if _, err := os.Lstat(dest); err == nil {
		fmt.Fprintf(stderr, "plan init: %s already exists; not overwriting it (remove it or give another DIR)\n", dest)
		return exitUsage
	}
	if parent := filepath.Dir(filepath.Clean(dest)); parent != "." {
		if st, err := os.Stat(parent); err != nil || !st.IsDir() {
			fmt.Fprintf(stderr, "plan init: cannot write %s: %s is not an existing directory\n", dest, parent)
			return exitUsage
		}
	}
	// Exit 1 is kept for nodes that fail (plan run): a local failure here
	// is 2, like every other reason the command cannot do what it was asked.
	// Write into a temporary sibling, then rename: a failure leaves nothing
	// half-written at dest.
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dest)), "."+filepath.Base(dest)+".init-*")
	if err != nil {
		fmt.Fprintf(stderr, "plan init: %v\n", err)
		return exitUsage
	}
	defer os.RemoveAll(tmp)
	files := builtinplans.Files(bp.Name)
	for _, f := range files {
		b, err := fs.ReadFile(builtinplans.FS(), f)
		if err != nil {
			fmt.Fprintf(stderr, "plan init: %v\n", err)
			return exitUsage
		}
		rel := strings.TrimPrefix(f, bp.Name+"/")
		target := filepath.Join(tmp, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			fmt.Fprintf(stderr, "plan init: %v\n", err)
			return exitUsage
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(target, b, mode); err != nil {
			fmt.Fprintf(stderr, "plan init: %v\n", err)
			return exitUsage
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		fmt.Fprintf(stderr, "plan init: %v\n", err)
		return exitUsage
	}
	if err := os.Rename(tmp, dest); err != nil {
		fmt.Fprintf(stderr, "plan init: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "Wrote built-in plan %s into %s/ (%d files). Try: plan validate %s\n", bp.Name, dest, len(files), dest)
	return exitOK
}
