package main

import (
	"io"

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
	if code, ok := parseFlags(fl, args, stderr); !ok {
		return code
	}
	p := pa.load(fl.Args(), stderr)
	if p == nil {
		return exitUsage
	}
	if diags := dsl.Render(p, stdout); len(diags) > 0 {
		printPlanDiagnostics(stderr, diags, p)
		if diags.HasErrors() {
			return exitUsage
		}
	}
	return exitOK
}
