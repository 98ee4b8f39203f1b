package main

import (
	"fmt"
	"io"
)

func init() {
	register(&command{
		name:    "validate",
		summary: "check a plan offline: names, types, references, cycles",
		run:     runValidate,
	})
}

func runValidate(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("validate", stderr)
	var pa planArgs
	pa.addFlags(fl)
	if code, ok := parseFlags(fl, args, stderr); !ok {
		return code
	}
	p := pa.load(fl.Args(), stderr)
	if p == nil {
		return exitUsage
	}
	tasks := map[string]bool{}
	hostsUsed := map[string]bool{}
	for _, n := range p.Nodes() {
		tasks[n.Task] = true
		hostsUsed[n.Host.Name] = true
	}
	fmt.Fprintf(stdout, "The plan is valid: %d tasks, %d nodes on %d hosts.\n", len(tasks), len(p.Nodes()), len(hostsUsed))
	return exitOK
}
