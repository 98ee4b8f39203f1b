package scratchmod

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Module describes a scratch module: what it requires, what it redirects, and which main
// packages it exists to build.
type Module struct {
	// Path is the module path written to go.mod, e.g. "plan-artifacts/etcd".
	Path string
	// GoVersion is the go directive, e.g. "1.26".
	GoVersion string
	// Require maps module path to version.
	Require map[string]string
	// Replace maps module path to "path version" (or a local directory).
	Replace map[string]string
	// Mains lists the main packages to build; they are imported from a tools file (behind a
	// build tag) so that `go mod tidy` keeps their dependencies.
	Mains []string
	// Files are extra files written into the module, path relative to its root (e.g. a
	// cmd/etcd/main.go wrapper around an upstream library package).
	Files map[string]string
}

// Env is the environment shared by every scratch build.
type Env struct {
	// GoCache and GoModCache are GOCACHE and GOMODCACHE.
	GoCache, GoModCache string
	// Log receives the go command's output.
	Log io.Writer
	// Nice runs the go command under `nice -n 10` (the machine is shared).
	Nice bool
}

// Build says how to compile some of a module's main packages.
type Build struct {
	Packages []string
	// OutDir receives one binary per package, named as `go build -o DIR/` names them.
	OutDir string
	// Out, when set, names the single output file instead of OutDir (one package only).
	Out     string
	CGO     bool
	Tags    []string
	LDFlags string
	// ExtraEnv is appended to the environment (e.g. PKG_CONFIG settings).
	ExtraEnv []string
}

// GoMod renders the module's go.mod.
func (m Module) GoMod() string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo %s\n", m.Path, m.GoVersion)
	if len(m.Require) > 0 {
		b.WriteString("\nrequire (\n")
		for _, p := range sortedKeys(m.Require) {
			fmt.Fprintf(&b, "\t%s %s\n", p, m.Require[p])
		}
		b.WriteString(")\n")
	}
	if len(m.Replace) > 0 {
		b.WriteString("\nreplace (\n")
		for _, p := range sortedKeys(m.Replace) {
			fmt.Fprintf(&b, "\t%s => %s\n", p, m.Replace[p])
		}
		b.WriteString(")\n")
	}
	return b.String()
}

// ToolsFile renders the file that imports every main package.
func (m Module) ToolsFile() string {
	var b strings.Builder
	b.WriteString("//go:build tools\n\n// Package tools pins the main packages this scratch module builds.\npackage tools\n\nimport (\n")
	mains := append([]string(nil), m.Mains...)
	sort.Strings(mains)
	for _, p := range mains {
		if strings.HasPrefix(p, m.Path+"/") || p == m.Path {
			continue // the module's own packages need no pin
		}
		fmt.Fprintf(&b, "\t_ %q\n", p)
	}
	b.WriteString(")\n")
	return b.String()
}

// Prepare writes the module into dir and resolves its dependencies with `go mod tidy`. When
// dir already holds exactly this module (same go.mod request, tools file and extra files) and a
// go.sum, nothing is done, so a warm re-run costs nothing.
func (m Module) Prepare(ctx context.Context, env Env, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("scratch module %s: %w", m.Path, err)
	}
	files := map[string]string{"go.mod": m.GoMod(), "tools.go": m.ToolsFile()}
	for p, c := range m.Files {
		files[p] = c
	}
	// The stamp records what was asked for, not what tidy wrote into go.mod.
	var want strings.Builder
	for _, p := range sortedKeys(files) {
		fmt.Fprintf(&want, "=== %s\n%s\n", p, files[p])
	}
	stamp := filepath.Join(dir, "scratchmod.stamp")
	if old, err := os.ReadFile(stamp); err == nil && string(old) == want.String() {
		if _, err := os.Stat(filepath.Join(dir, "go.sum")); err == nil {
			return nil
		}
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("scratch module %s: %w", m.Path, err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			return fmt.Errorf("scratch module %s: %w", m.Path, err)
		}
	}
	os.Remove(filepath.Join(dir, "go.sum"))
	os.Remove(stamp)
	if err := env.goCmd(ctx, dir, nil, "mod", "tidy"); err != nil {
		return fmt.Errorf("scratch module %s: go mod tidy: %w", m.Path, err)
	}
	if err := os.WriteFile(stamp, []byte(want.String()), 0o644); err != nil {
		return fmt.Errorf("scratch module %s: %w", m.Path, err)
	}
	return nil
}

// Run compiles b in the module at dir.
func (env Env) Run(ctx context.Context, dir string, b Build) error {
	args := []string{"build", "-trimpath"}
	if len(b.Tags) > 0 {
		args = append(args, "-tags", strings.Join(b.Tags, ","))
	}
	if b.LDFlags != "" {
		args = append(args, "-ldflags", b.LDFlags)
	}
	switch {
	case b.Out != "":
		if len(b.Packages) != 1 {
			return fmt.Errorf("go build -o %s: needs exactly one package, have %d", b.Out, len(b.Packages))
		}
		args = append(args, "-o", b.Out)
	case b.OutDir != "":
		if err := os.MkdirAll(b.OutDir, 0o755); err != nil {
			return err
		}
		args = append(args, "-o", b.OutDir+string(filepath.Separator))
	default:
		return fmt.Errorf("go build: no output given")
	}
	args = append(args, b.Packages...)
	extra := append([]string{"CGO_ENABLED=0"}, b.ExtraEnv...)
	if b.CGO {
		extra[0] = "CGO_ENABLED=1"
	}
	if err := env.goCmd(ctx, dir, extra, args...); err != nil {
		return fmt.Errorf("go build %s: %w", strings.Join(b.Packages, " "), err)
	}
	return nil
}

func (env Env) goCmd(ctx context.Context, dir string, extra []string, args ...string) error {
	name := "go"
	if env.Nice {
		if nice, err := exec.LookPath("nice"); err == nil {
			args = append([]string{"-n", "10", "go"}, args...)
			name = nice
		}
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GOCACHE="+env.GoCache,
		"GOMODCACHE="+env.GoModCache,
		// Never download another toolchain: the proxy is for modules, and the build must use
		// the Go the machine has.
		"GOTOOLCHAIN=local",
		"GOFLAGS=-mod=mod",
		"GOOS=linux",
		"GOARCH=amd64",
		// The project's go.work, if any, must not leak into the scratch module.
		"GOWORK=off",
	)
	cmd.Env = append(cmd.Env, extra...)
	out := env.Log
	if out == nil {
		out = io.Discard
	}
	fmt.Fprintf(out, "+ (cd %s && %s)\n", dir, strings.Join(append([]string{name}, quoteAll(args)...), " "))
	cmd.Stdout, cmd.Stderr = out, out
	return cmd.Run()
}

func quoteAll(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"'") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return q
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Downloaded tells where `go mod download` put a module.
type Downloaded struct {
	// Dir is the unpacked module source, GoMod its go.mod file.
	Dir, GoMod string
}

// Download fetches module@version through the module proxy into GOMODCACHE.
func (env Env) Download(ctx context.Context, module, version string) (Downloaded, error) {
	dir, err := os.MkdirTemp("", "scratchmod-download-")
	if err != nil {
		return Downloaded{}, err
	}
	defer os.RemoveAll(dir)
	var out strings.Builder
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOCACHE="+env.GoCache, "GOMODCACHE="+env.GoModCache, "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GOWORK=off")
	cmd.Stdout = &out
	if env.Log != nil {
		cmd.Stderr = env.Log
	}
	if err := cmd.Run(); err != nil {
		return Downloaded{}, fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	var info struct{ Dir, GoMod, Error string }
	if err := json.Unmarshal([]byte(out.String()), &info); err != nil {
		return Downloaded{}, fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	if info.Error != "" || info.GoMod == "" || info.Dir == "" {
		return Downloaded{}, fmt.Errorf("go mod download %s@%s: %s", module, version, info.Error)
	}
	return Downloaded{Dir: info.Dir, GoMod: info.GoMod}, nil
}
