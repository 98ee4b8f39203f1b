package main

import (
	"fmt"
	"io"

	"github.com/plan-dev/plan/dsl"
)

func init() {
	register(&command{
		name:    "graph",
		summary: "print the plan's graph (dot or mermaid; tasks or task x host nodes)",
		run:     runGraph,
	})
}

func runGraph(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("graph", stderr)
	var pa planArgs
	pa.addFlags(fl)
	format := fl.String("format", "dot", "output format: dot or mermaid")
	nodes := fl.String("nodes", "tasks", "graph nodes: tasks (one per task) or hosts (one per task and host)")
	if code, ok := parseFlags(fl, args, stderr); !ok {
		return code
	}
	if *format != string(dsl.GraphDot) && *format != string(dsl.GraphMermaid) {
		fmt.Fprintf(stderr, "plan graph: --format must be dot or mermaid, not %q\n", *format)
		return exitUsage
	}
	if *nodes != string(dsl.GraphTasks) && *nodes != string(dsl.GraphHosts) {
		fmt.Fprintf(stderr, "plan graph: --nodes must be tasks or hosts, not %q\n", *nodes)
		return exitUsage
	}
	p := pa.load(fl.Args(), stderr)
	if p == nil {
		return exitUsage
	}
	if err := dsl.WriteGraph(p, stdout, dsl.GraphFormat(*format), dsl.GraphLevel(*nodes)); err != nil {
		fmt.Fprintf(stderr, "plan graph: %v\n", err)
		return exitFailed
	}
	return exitOK
}
