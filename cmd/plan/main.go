// Command plan runs HCL plans on remote hosts over SSH.
//
// This file only dispatches: each subcommand lives in its own file and
// registers itself in init (validate.go, render.go, run.go, hosts.go, ...).
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
)

// Exit codes, documented in docs/cli.md.
const (
	exitOK     = 0
	exitFailed = 1 // a node failed
	exitUsage  = 2 // the plan or the command line is wrong
)

// command is one subcommand. run returns the process exit code.
type command struct {
	name    string
	summary string // one line for `plan help`
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("plan: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	stop := startProfiles(os.Stderr)
	code := dispatch(os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// startProfiles is a hidden hook for the benchmarks (bench/, docs/performance.md):
// PLAN_CPUPROFILE=FILE writes a pprof CPU profile of the whole command,
// PLAN_MEMPROFILE=FILE a heap profile taken when it ends. The returned
// function stops and writes them.
func startProfiles(stderr io.Writer) func() {
	var stops []func()
	if path := os.Getenv("PLAN_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "plan: PLAN_CPUPROFILE:", err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if path := os.Getenv("PLAN_MEMPROFILE"); path != "" {
		stops = append(stops, func() {
			f, err := os.Create(path)
			if err == nil {
				runtime.GC() // up-to-date statistics
				err = pprof.Lookup("heap").WriteTo(f, 0)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				fmt.Fprintln(stderr, "plan: PLAN_MEMPROFILE:", err)
			}
		})
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, "plan", version)
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "plan: unknown command %q (see `plan help`)\n", args[0])
		return exitUsage
	}
	return c.run(args[1:], stdout, stderr)
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: plan COMMAND [ARGS]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `plan COMMAND --help` for a command's flags. Docs: docs/cli.md")
}
