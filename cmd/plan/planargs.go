package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	builtinplans "github.com/plan-dev/plan/builtin-plans"
	"github.com/plan-dev/plan/dsl"
	"github.com/spf13/pflag"
)

// planArgs are the flags shared by every command that loads a plan (run,
// validate, graph, render, hosts). Usage in a command:
//
//	fl := newFlagSet("render", stderr)
//	var pa planArgs
//	pa.addFlags(fl)
//	if err := fl.Parse(args); err != nil { ... return exitUsage }
//	p := pa.load(fl.Args(), stderr)
//	if p == nil {
//		return exitUsage // diagnostics already printed
//	}
type planArgs struct {
	Hosts    []string // -H/--host "[GROUP=]HOST[,HOST...]", repeatable
	Vars     []string // --var NAME=VALUE, repeatable
	VarFiles []string // --var-file FILE, repeatable
}

// addFlags registers -H/--host, --var and --var-file on fl.
func (a *planArgs) addFlags(fl *pflag.FlagSet) {
	fl.StringArrayVarP(&a.Hosts, "host", "H", nil, "bind hosts to a group: [GROUP=]HOST[,HOST...], HOST is [user@]name[:port] (repeatable)")
	fl.StringArrayVar(&a.Vars, "var", nil, "set a variable: NAME=VALUE (repeatable; beats --var-file and PLAN_VAR_NAME)")
	fl.StringArrayVar(&a.VarFiles, "var-file", nil, "read variables from an HCL file of NAME = value lines (repeatable)")
}

// load resolves the PLAN arguments (files, directories, or names of
// built-in plans such as "scratch.hcl" or "scratch" when no such path
// exists, saying "using built-in plan NAME" on stderr), loads the plan with
// the flags and the process environment (PLAN_VAR_name), and prints every
// diagnostic on stderr. It returns nil when the plan has errors; the caller
// then exits with exitUsage (2).
func (a *planArgs) load(paths []string, stderr io.Writer) *dsl.Plan {
	p, diags := a.loadDiags(paths, stderr)
	if diags.HasErrors() {
		printPlanDiagnostics(stderr, diags, p)
		return nil
	}
	if len(diags) > 0 {
		printPlanDiagnostics(stderr, diags, p)
	}
	if ub := p.Unbound(); len(ub) > 0 && len(a.Hosts) == 0 {
		what := "groups " + strings.Join(ub, ", ") + " have no host yet"
		if len(ub) == 1 {
			what = "group " + ub[0] + " has no host yet"
		}
		if d := p.Deferred(); len(d) > 0 {
			what += fmt.Sprintf(" (tasks waiting for them: %s)", strings.Join(d, ", "))
		}
		fmt.Fprintf(stderr, "note: %s; bind hosts with -H %s=HOST[,HOST...]\n", what, ub[0])
	} else if d := p.Deferred(); len(d) > 0 {
		fmt.Fprintf(stderr, "note: tasks %s have no node: their hosts come from groups that no -H binds (%s)\n",
			strings.Join(d, ", "), strings.Join(ub, ", "))
	} else if len(p.Nodes()) == 0 && len(a.Hosts) == 0 && len(p.Groups()) > 0 {
		fmt.Fprintf(stderr, "note: no task runs on any host; bind hosts to the plan's groups (%s) with -H [GROUP=]HOST[,HOST...]\n",
			strings.Join(p.Groups(), ", "))
	}
	return p
}

// loadDiags is load without printing: the plan (possibly partial) and the
// diagnostics.
func (a *planArgs) loadDiags(paths []string, stderr io.Writer) (*dsl.Plan, hcl.Diagnostics) {
	resolved, fsys, err := resolvePlanPaths(paths, stderr)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot find the plan", Detail: err.Error()}}
	}
	return loadGuarded(resolved, dsl.Options{
		Vars:     a.Vars,
		VarFiles: a.VarFiles,
		Environ:  os.Environ(),
		Hosts:    a.Hosts,
		FS:       fsys,
	})
}

// loadGuarded turns a panic inside dsl.Load (a bug, never the user's
// fault) into a diagnostic: the user sees what went wrong, not a Go stack.
func loadGuarded(paths []string, opts dsl.Options) (p *dsl.Plan, diags hcl.Diagnostics) {
	defer func() {
		if r := recover(); r != nil {
			p, diags = nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Internal error while loading the plan",
				Detail: fmt.Sprintf("%v. This is a bug in plan; please report it with the plan that triggers it.", r)}}
		}
	}()
	return dsl.Load(paths, opts)
}

// resolvePlanPaths maps PLAN arguments to dsl.Load paths. When any names a
// built-in plan, the built-in tree becomes the FS and OS paths are made
// absolute (dsl reads absolute paths from the OS).
func resolvePlanPaths(paths []string, stderr io.Writer) ([]string, fs.FS, error) {
	if len(paths) == 0 {
		return nil, nil, errors.New("no PLAN given: name plan files, a directory of *.hcl files, or a built-in plan (see `plan builtin list`)")
	}
	out := make([]string, len(paths))
	isBuiltin := make([]bool, len(paths))
	builtin := false
	for i, pth := range paths {
		if _, err := os.Stat(pth); err == nil {
			out[i] = pth
			continue
		}
		bp, ok := builtinplans.Lookup(filepath.Base(pth))
		if !ok || strings.Contains(strings.TrimSuffix(pth, "/"), "/") {
			return nil, nil, fmt.Errorf("%s: no such file or directory, and no built-in plan of that name (built-ins: %s)", pth, builtinNames())
		}
		fmt.Fprintf(stderr, "using built-in plan %s\n", bp.Name)
		if st, err := os.Stat(bp.Name); err == nil && st.IsDir() {
			fmt.Fprintf(stderr, "note: ./%s/ exists (plan init?); name it as %s or ./%s/ to use it instead\n", bp.Name, bp.Name, bp.Name)
		}
		out[i] = bp.Name
		isBuiltin[i] = true
		builtin = true
	}
	if !builtin {
		return out, nil, nil
	}
	for i, pth := range paths {
		if !isBuiltin[i] {
			abs, err := filepath.Abs(pth)
			if err != nil {
				return nil, nil, err
			}
			out[i] = abs
		}
	}
	return out, builtinplans.FS(), nil
}

func builtinNames() string {
	var names []string
	for _, p := range builtinplans.List() {
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// newFlagSet makes a pflag set that reports errors instead of exiting and
// accepts flags after positional arguments.
func newFlagSet(name string, stderr io.Writer) *pflag.FlagSet {
	fl := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.SetInterspersed(true)
	fl.Usage = func() {
		args, ok := usageArgs[name]
		if !ok {
			args = "PLAN..."
		}
		fmt.Fprintf(stderr, "usage: plan %s %s [flags]\n\nFlags:\n%s", name, args, fl.FlagUsages())
	}
	return fl
}

// usageArgs are the positional arguments shown in a command's usage line;
// commands not listed take PLAN....
var usageArgs = map[string]string{
	"fmt":  "[PATH...|-]",
	"init": "NAME [DIR]",
}

// parseFlags parses args; it returns (exit code, false) when the command
// must stop: -h/--help (0) or a bad flag (2, message printed).
func parseFlags(fl *pflag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK, false
		}
		fmt.Fprintf(stderr, "plan %s: %v (see `plan %s --help`)\n", fl.Name(), err, fl.Name())
		return exitUsage, false
	}
	return 0, true
}
