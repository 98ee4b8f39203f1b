package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/plan-dev/plan/dsl"
)

func init() {
	register(&command{
		name:    "render",
		summary: "show every command, script and file each node would send (offline, secrets redacted)",
		run:     runRender,
	})
}

func runRender(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("render", stderr)
	var pa planArgs
	pa.addFlags(fl)
	tasks := fl.StringArray("task", nil, "render only this task's nodes (repeatable)")
	onHosts := fl.StringArray("on", nil, "render only the nodes on this host (repeatable)")
	if code, ok := parseFlags(fl, args, stderr); !ok {
		return code
	}
	p := pa.load(fl.Args(), stderr)
	if p == nil {
		return exitUsage
	}
	keep, err := renderFilter(p, *tasks, *onHosts)
	if err != nil {
		fmt.Fprintf(stderr, "plan render: %v\n", err)
		return exitUsage
	}
	if diags := dsl.RenderNodes(p, stdout, keep); len(diags) > 0 {
		printPlanDiagnostics(stderr, diags, p)
		if diags.HasErrors() {
			return exitUsage
		}
	}
	return exitOK
}

// renderFilter keeps the nodes of the given tasks on the given hosts (any
// when a list is empty); unknown names are an error.
func renderFilter(p *dsl.Plan, tasks, onHosts []string) (func(*dsl.Node) bool, error) {
	if len(tasks) == 0 && len(onHosts) == 0 {
		return nil, nil
	}
	knownTasks, knownHosts := map[string]bool{}, map[string]bool{}
	for _, n := range p.Nodes() {
		knownTasks[n.Task] = true
		knownHosts[n.Host.Name] = true
		if base, _, ok := strings.Cut(n.Task, "["); ok {
			knownTasks[base] = true // every instance of a for_each task
		}
	}
	want := func(names []string, known map[string]bool, what string) (map[string]bool, error) {
		set := map[string]bool{}
		for _, n := range names {
			if !known[n] {
				var list []string
				for k := range known {
					list = append(list, k)
				}
				sort.Strings(list)
				return nil, fmt.Errorf("no node has %s %q.%s", what, dsl.EscapeText(n), dsl.DidYouMean(n, list))
			}
			set[n] = true
		}
		return set, nil
	}
	ts, err := want(tasks, knownTasks, "task")
	if err != nil {
		return nil, err
	}
	hs, err := want(onHosts, knownHosts, "host")
	if err != nil {
		return nil, err
	}
	return func(n *dsl.Node) bool {
		base, _, _ := strings.Cut(n.Task, "[")
		return (len(ts) == 0 || ts[n.Task] || ts[base]) && (len(hs) == 0 || hs[n.Host.Name])
	}, nil
}
