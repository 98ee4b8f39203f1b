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
	hostsUsed := map[string]bool{}
	for _, n := range p.Nodes() {
		hostsUsed[n.Host.Name] = true
	}
	fmt.Fprintf(stdout, "The plan is valid: %s, %s on %s.\n",
		plural(len(p.Tasks()), "task"), plural(len(p.Nodes()), "node"), plural(len(hostsUsed), "host"))
	return exitOK
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
