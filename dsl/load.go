package dsl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Plan is a loaded, statically checked plan.
type Plan struct {
	opts      Options
	files     map[string]*hcl.File
	fileOrder []string
	paths     []string       // the path arguments, as given
	fileArg   map[string]int // file name -> index of the path argument it came from

	// checkPass: this load binds a placeholder host to every group that
	// is not bound yet, to check the steps of the tasks on it (see Load).
	checkPass bool
	// placeholderOf: placeholder host name -> its group.
	placeholderOf map[string]string

	vars      []*variable
	varByName map[string]*variable
	varVals   map[string]cty.Value

	locals    map[string]*local
	localVals map[string]cty.Value

	hosts      []*Host
	hostByName map[string]*Host
	hostDecl   map[string]*hostDecl
	hostVals   map[string]cty.Value

	groups      []*group
	groupByName map[string]*group

	tasks      []*task
	taskByName map[string]*task

	nodes    []*Node
	nodeByID map[string]*Node
	info     map[*Node]*nodeInfo

	funcMu    sync.Mutex           // guards funcCache: evaluators run concurrently
	funcCache map[string]funcTable // by base directory
	static    map[string]cty.Value // var, local, host, group once resolveStatic is done
	fileHash  map[string]string    // resolved path -> sha256 of files read by file()/templatefile()

	fpMu    sync.Mutex       // guards fpRefs: evaluators run concurrently
	fpRefs  map[*task][]byte // Fingerprint's static-reference bytes per task
	secrets map[string]struct{}
}

// Files returns the parsed plan files by name, for printing diagnostics.
func (p *Plan) Files() map[string]*hcl.File { return p.files }

// Hosts returns the plan's hosts in plan order, then -H order.
func (p *Plan) Hosts() []*Host { return p.hosts }

// Nodes returns every (task, host) node in a deterministic topological
// order: a node comes after all of its dependencies.
func (p *Plan) Nodes() []*Node { return p.nodes }

// Tasks returns the names of the plan's tasks in declaration order,
// including those that run on no host.
func (p *Plan) Tasks() []string {
	out := make([]string, len(p.tasks))
	for i, t := range p.tasks {
		out[i] = t.name
	}
	return out
}

// Unbound returns the groups whose hosts are not known yet: they declare
// none and no -H bound any (or they are made from such a group). Tasks on
// them have no node until -H binds hosts.
func (p *Plan) Unbound() []string {
	var out []string
	for _, g := range p.groups {
		if g.deferred() {
			out = append(out, g.name)
		}
	}
	return out
}

// Deferred returns the tasks whose hosts are not known until -H binds an
// unbound group (their `on` needs one), in declaration order.
func (p *Plan) Deferred() []string {
	var out []string
	for _, t := range p.tasks {
		if t.onUnknown {
			out = append(out, t.name)
		}
	}
	return out
}

// Groups returns the names of the plan's groups in declaration order.
func (p *Plan) Groups() []string { return p.groupNames() }

// GroupHosts returns the hosts of a group (declared ones, then -H ones).
func (p *Plan) GroupHosts(name string) []*Host {
	if g, ok := p.groupByName[name]; ok {
		return g.hosts
	}
	return nil
}

// Secrets returns every sensitive string known statically (values of
// sensitive variables and of locals derived from them), sorted.
func (p *Plan) Secrets() []string { return sortedSecrets(p.secrets) }

// Load parses the plan made of paths (files and/or directories, every *.hcl
// in a directory, one namespace), runs the static phase and type-checks
// every node offline. The plan is returned even when diags has errors, so
// callers can print the diagnostics with p.Files() and p.Secrets(); it must
// not be run then.
func Load(paths []string, opts Options) (*Plan, hcl.Diagnostics) {
	p, diags := load(paths, opts, false)
	if diags.HasErrors() || len(opts.Hosts) > 0 || len(p.Unbound()) == 0 {
		return p, diags
	}
	// Without -H, a group filled only by -H has no hosts, so the tasks on
	// it have no node and nothing of theirs would be checked. Load again
	// with a placeholder host in each such group and report what the
	// check of those nodes finds (Terraform's validate treats unset
	// inputs as unknown the same way). The plan returned stays the one
	// without placeholders: they must never run.
	_, cdiags := load(paths, opts, true)
	if cdiags.HasErrors() {
		return p, cdiags
	}
	return p, diags
}

func load(paths []string, opts Options, checkPass bool) (*Plan, hcl.Diagnostics) {
	p := &Plan{
		checkPass:     checkPass,
		paths:         paths,
		placeholderOf: map[string]string{},
		fileArg:       map[string]int{},
		opts:          opts,
		files:         map[string]*hcl.File{},
		varByName:     map[string]*variable{},
		varVals:       map[string]cty.Value{},
		locals:        map[string]*local{},
		localVals:     map[string]cty.Value{},
		hostByName:    map[string]*Host{},
		hostDecl:      map[string]*hostDecl{},
		hostVals:      map[string]cty.Value{},
		groupByName:   map[string]*group{},
		taskByName:    map[string]*task{},
		nodeByID:      map[string]*Node{},
		info:          map[*Node]*nodeInfo{},
		funcCache:     map[string]funcTable{},
		fileHash:      map[string]string{},
		secrets:       map[string]struct{}{},
	}
	diags := p.parse(paths)
	if diags.HasErrors() {
		return p, p.finishDiags(diags)
	}
	steps := []func() hcl.Diagnostics{
		p.decodeTopLevel,
		p.resolveVariables,
		p.resolveStatic,
		p.expandTasks,
		p.buildGraph,
		p.typeCheck,
	}
	for _, step := range steps {
		diags = append(diags, step()...)
		if diags.HasErrors() {
			break
		}
	}
	return p, p.finishDiags(diags)
}

// finishDiags orders the diagnostics, takes every known secret out of
// them (a diagnostic about a sensitive value names it, never shows it) and
// bounds their number and size.
func (p *Plan) finishDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	secrets := p.Secrets()
	for _, d := range diags {
		p.hintEmptyGroup(d)
		d.Summary = redact(d.Summary, secrets)
		d.Detail = redact(d.Detail, secrets)
	}
	return boundDiagnostics(sortDiags(diags))
}

// hintEmptyGroup adds to HCL's "Invalid index ... has no elements" how to
// give hosts to the groups that have none, when some have none: indexing
// group.NAME.hosts is by far the likeliest cause.
func (p *Plan) hintEmptyGroup(d *hcl.Diagnostic) {
	if d.Summary == "Invalid index" && strings.Contains(d.Detail, "no elements") && !strings.Contains(d.Detail, " -H ") {
		d.Detail += p.unboundHint()
	}
}

// sortDiags orders diagnostics by file and position (those without a
// location first), keeping the order of equal ones, so that output is
// deterministic and reads top to bottom.
func sortDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
	return diags
}

// parse reads and parses every plan file.
func (p *Plan) parse(paths []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if len(paths) == 0 {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No plan files",
			Detail: "Give at least one plan file or directory."}}
	}
	for argIndex, pth := range paths {
		names, err := p.expandPath(pth)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read plan",
				Detail: err.Error()})
			continue
		}
		for _, name := range names {
			if _, dup := p.files[name]; dup {
				continue
			}
			src, err := p.readPlanFile(name)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read plan file",
					Detail: err.Error()})
				continue
			}
			if len(src) > maxPlanFile {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Plan file too large",
					Detail: fmt.Sprintf("%s is %d bytes; a plan file is at most %d. Is it a plan?", escapeText(name), len(src), maxPlanFile)})
				continue
			}
			if d := checkNesting(src, name); d != nil {
				diags = append(diags, d)
				continue
			}
			f, d := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
			diags = append(diags, d...)
			if f != nil {
				p.files[name] = f
				p.fileOrder = append(p.fileOrder, name)
				p.fileArg[name] = argIndex
			}
		}
	}
	return diags
}

// usesFS reports whether a plan path is read through Options.FS: relative
// paths are when an FS is set; absolute ones always come from the OS.
func (p *Plan) usesFS(name string) bool {
	return p.opts.FS != nil && !filepath.IsAbs(name)
}

func (p *Plan) expandPath(pth string) ([]string, error) {
	if p.usesFS(pth) {
		clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(pth), "./"))
		st, err := fs.Stat(p.opts.FS, clean)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pth, err)
		}
		if !st.IsDir() {
			return []string{clean}, nil
		}
		ents, err := fs.ReadDir(p.opts.FS, clean)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pth, err)
		}
		var out []string
		for _, e := range ents {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".hcl") {
				out = append(out, path.Join(clean, e.Name()))
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s: directory has no *.hcl files", pth)
		}
		sort.Strings(out)
		return out, nil
	}
	st, err := os.Stat(pth)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{filepath.Clean(pth)}, nil
	}
	matches, err := filepath.Glob(filepath.Join(pth, "*.hcl"))
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("%s: directory has no *.hcl files", pth)
	}
	sort.Strings(matches)
	return matches, nil
}

func (p *Plan) readPlanFile(name string) ([]byte, error) {
	if p.usesFS(name) {
		return fs.ReadFile(p.opts.FS, name)
	}
	return os.ReadFile(name)
}

// planDir is the directory of a plan file, the base of relative paths in
// file(), templatefile() and file step sources.
func (p *Plan) planDir(filename string) string {
	if p.usesFS(filename) {
		return path.Dir(filename)
	}
	return filepath.Dir(filename)
}

// resolvePath resolves a path written in the plan file `from` and says
// where to read it: through Options.FS (fsys non-nil) or the OS.
func (p *Plan) resolvePath(from, rel string) (resolved string, fsys fs.FS) {
	if filepath.IsAbs(rel) {
		return filepath.Clean(rel), nil
	}
	if p.usesFS(from) {
		return path.Join(path.Dir(from), filepath.ToSlash(rel)), p.opts.FS
	}
	joined := filepath.Join(filepath.Dir(from), rel)
	if abs, err := filepath.Abs(joined); err == nil {
		joined = abs
	}
	return joined, nil
}

// readRel reads a file named relative to the plan file `from`.
func (p *Plan) readRel(from, rel string) ([]byte, string, error) {
	resolved, fsys := p.resolvePath(from, rel)
	var b []byte
	var err error
	if fsys != nil {
		b, err = fs.ReadFile(fsys, resolved)
	} else {
		b, err = os.ReadFile(resolved)
	}
	if err != nil {
		// The path as written, not the resolved one: messages stay the
		// same wherever the plan lives.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		where := ""
		if !filepath.IsAbs(rel) {
			where = " (paths are relative to the plan file's directory)"
		}
		return nil, resolved, fmt.Errorf("reading %s: %w%s", rel, err, where)
	}
	return b, resolved, nil
}
