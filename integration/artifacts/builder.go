package artifacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/plan-dev/plan/integration/artifacts/scratchmod"

	"github.com/plan-dev/plan/internal/atomicfile"
)

// Defaults for the two directories, overridable by the environment so that CI on the same
// machine and a developer share one warm cache.
const (
	DefaultDir     = "/var/cache/plan-artifacts"
	DefaultWorkDir = "/var/cache/plan-artifacts-build"
	DirEnv         = "PLAN_ARTIFACTS_DIR"
	WorkDirEnv     = "PLAN_ARTIFACTS_WORK"
)

// DirFromEnv returns $PLAN_ARTIFACTS_DIR or DefaultDir.
func DirFromEnv() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	return DefaultDir
}

// WorkDirFromEnv returns $PLAN_ARTIFACTS_WORK or DefaultWorkDir.
func WorkDirFromEnv() string {
	if d := os.Getenv(WorkDirEnv); d != "" {
		return d
	}
	return DefaultWorkDir
}

// Builder fills an artifacts directory.
type Builder struct {
	// Dir is the artifacts directory (the layout the scratch plan pushes from).
	Dir string
	// WorkDir holds everything else: scratch modules (work/), GOCACHE (go-build/),
	// GOMODCACHE (gomod/), per-component build logs (logs/) and build records (records/).
	WorkDir string
	// Progress receives one line per step; build output goes to the per-component logs.
	Progress io.Writer
	// Nice lowers the builds' priority; the machine is shared.
	Nice bool
	// Heartbeat is how often a build still running says so, with its elapsed time and what
	// its log shows it doing (default 30 s; negative: never). A cold Kubernetes build is
	// silent for a quarter of an hour otherwise.
	Heartbeat time.Duration
}

// buildFunc builds one component into stage, a fresh directory that receives exactly the
// component's Files; the builder then moves them into place.
type buildFunc func(ctx context.Context, bc buildContext, stage string) (notes []string, err error)

// buildContext is what a recipe gets to work with.
type buildContext struct {
	env     scratchmod.Env
	workDir string // per-component scratch directory
	log     io.Writer
}

// Result tells what happened to one component.
type Result struct {
	Component string
	Version   string
	// Cached is true when the component was already present and nothing was built.
	Cached  bool
	Seconds float64
	Err     error
}

// record is what a build leaves in WorkDir/records, read back into versions.json.
type record struct {
	Version   string    `json:"version"`
	BuiltAt   time.Time `json:"built_at"`
	Seconds   float64   `json:"build_seconds"`
	GoVersion string    `json:"go_version"`
	Notes     []string  `json:"notes,omitempty"`
}

// Build builds every component of cs that is missing from b.Dir, then rewrites SHA256SUMS and
// versions.json for everything present. A component that fails does not stop the others; the
// returned error joins every failure.
func (b *Builder) Build(ctx context.Context, cs []Component) ([]Result, error) {
	for _, d := range []string{b.Dir, b.WorkDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("artifacts: %w", err)
		}
	}
	unlock, err := lockDir(b.WorkDir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	var results []Result
	var errs []error
	for _, c := range cs {
		ok, err := Present(b.Dir, c)
		if err != nil {
			return results, err
		}
		if ok {
			b.progress("%-12s %-9s cached", c.Name, c.Version)
			results = append(results, Result{Component: c.Name, Version: c.Version, Cached: true})
			continue
		}
		r := b.buildOne(ctx, c)
		results = append(results, r)
		if r.Err != nil {
			errs = append(errs, r.Err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	if err := b.WriteIndex(); err != nil {
		errs = append(errs, err)
	}
	// errors.Join, not go-multierror: built one after the other, and each
	// result already carries its own error; the join is for printing.
	return results, errors.Join(errs...)
}

func (b *Builder) buildOne(ctx context.Context, c Component) Result {
	r := Result{Component: c.Name, Version: c.Version}
	id := c.Name + "-" + c.Version
	logFile := filepath.Join(b.WorkDir, "logs", id+".log")
	b.progress("%-12s %-9s building (log: %s)", c.Name, c.Version, logFile)
	start := time.Now()
	stopBeat := b.heartbeat(c, logFile, start)
	defer stopBeat()
	err := func() error {
		if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
			return err
		}
		log, err := os.Create(logFile)
		if err != nil {
			return err
		}
		defer log.Close()
		stage := filepath.Join(b.WorkDir, "stage", id)
		if err := os.RemoveAll(stage); err != nil {
			return err
		}
		if err := os.MkdirAll(stage, 0o755); err != nil {
			return err
		}
		bc := buildContext{
			env: scratchmod.Env{
				GoCache:    filepath.Join(b.WorkDir, "go-build"),
				GoModCache: filepath.Join(b.WorkDir, "gomod"),
				Log:        log,
				Nice:       b.Nice,
			},
			workDir: filepath.Join(b.WorkDir, "work", id),
			log:     log,
		}
		if err := os.MkdirAll(bc.workDir, 0o755); err != nil {
			return err
		}
		notes, err := c.build(ctx, bc, stage)
		if err != nil {
			return err
		}
		if err := b.install(c, stage); err != nil {
			return err
		}
		os.RemoveAll(stage)
		rec := record{Version: c.Version, BuiltAt: time.Now().UTC().Truncate(time.Second),
			Seconds: time.Since(start).Round(time.Second).Seconds(), GoVersion: runtime.Version(), Notes: notes}
		return writeJSON(filepath.Join(b.WorkDir, "records", id+".json"), rec)
	}()
	r.Seconds = time.Since(start).Round(time.Second).Seconds()
	if err != nil {
		r.Err = fmt.Errorf("build %s %s (log: %s): %w", c.Name, c.Version, logFile, err)
		b.progress("%-12s %-9s FAILED after %s: %v", c.Name, c.Version, time.Since(start).Round(time.Second), err)
		return r
	}
	b.progress("%-12s %-9s built in %s", c.Name, c.Version, time.Since(start).Round(time.Second))
	return r
}

// install moves the staged files into the artifacts directory. Each file lands by rename, so
// a reader never sees a partial binary; the component counts as present only once the last
// one is there.
func (b *Builder) install(c Component, stage string) error {
	dest := filepath.Join(b.Dir, filepath.FromSlash(c.Dir))
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	for _, f := range c.Files {
		src := filepath.Join(stage, f)
		info, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("build produced no %s: %w", f, err)
		}
		mode := os.FileMode(0o755)
		if c.IsImage() {
			mode = 0o644
		}
		if err := os.Chmod(src, mode); err != nil {
			return err
		}
		if info.Size() == 0 {
			return fmt.Errorf("build produced an empty %s", f)
		}
		if err := moveFile(src, filepath.Join(dest, f)); err != nil {
			return fmt.Errorf("install %s: %w", f, err)
		}
	}
	return nil
}

// WriteIndex rewrites SHA256SUMS and versions.json for the components of the current versions
// that are present.
func (b *Builder) WriteIndex() error {
	all := Components()
	paths, err := PresentPaths(b.Dir, all)
	if err != nil {
		return err
	}
	sums, err := WriteSums(b.Dir, paths)
	if err != nil {
		return fmt.Errorf("write %s: %w", SumsFile, err)
	}
	idx := NewIndex(all, sums, func(c Component) *record {
		var rec record
		data, err := os.ReadFile(filepath.Join(b.WorkDir, "records", c.Name+"-"+c.Version+".json"))
		if err != nil || json.Unmarshal(data, &rec) != nil {
			return nil
		}
		return &rec
	})
	return writeJSON(filepath.Join(b.Dir, IndexFile), idx)
}

// heartbeat reports every b.Heartbeat that c is still building, until the returned func is
// called (which waits for the reporter to stop, so no line follows "built in").
func (b *Builder) heartbeat(c Component, logFile string, start time.Time) (stop func()) {
	every := b.Heartbeat
	if every == 0 {
		every = 30 * time.Second
	}
	if every < 0 || b.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				b.progress("%-12s %-9s still building, %s so far: %s", c.Name, c.Version,
					time.Since(start).Round(time.Second), describeLogTail(logFile))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// describeLogTail says in a few words what a build log's last line shows: the go command and
// package being built, a module being downloaded, or the line itself, clipped.
func describeLogTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "no log yet"
	}
	defer f.Close()
	const tailSize = 8 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > tailSize {
		if _, err := f.Seek(-tailSize, io.SeekEnd); err != nil {
			return "log unreadable"
		}
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return "log empty"
	}
	// "+ (cd DIR && [nice -n 10] go build ... -o OUT PKG)": the go subcommand and the package
	if strings.HasPrefix(last, "+ ") {
		cmd := strings.TrimSuffix(strings.TrimPrefix(last, "+ "), ")")
		if _, after, ok := strings.Cut(cmd, "&& "); ok {
			cmd = after
		}
		fields := strings.Fields(cmd)
		for i, f := range fields {
			if f == "go" && i+1 < len(fields) {
				return "go " + fields[i+1] + " " + fields[len(fields)-1]
			}
		}
		last = cmd
	}
	if strings.HasPrefix(last, "go: downloading ") {
		return "downloading " + strings.TrimPrefix(last, "go: downloading ")
	}
	if len(last) > 100 {
		last = last[:97] + "..."
	}
	return last
}

func (b *Builder) progress(format string, args ...any) {
	if b.Progress != nil {
		fmt.Fprintf(b.Progress, time.Now().UTC().Format("15:04:05")+" "+format+"\n", args...)
	}
}

// lockDir takes an exclusive lock on dir/lock so that two builders (CI and a developer) never
// build into the same cache at once; the second waits.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("artifacts lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("artifacts lock: %w", err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// moveFile renames src to dst, copying when they are on different filesystems.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

func writeJSON(file string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(file, append(data, '\n'), 0o644)
}

// ldflagsX renders -X flags for a version variable in several packages.
func ldflagsX(vars map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(vars) {
		parts = append(parts, "-X "+k+"="+vars[k])
	}
	return strings.Join(parts, " ")
}
