package main

import (
	"fmt"
	"io"
	"io/fs"
	"strings"

	builtinplans "github.com/plan-dev/plan/builtin-plans"
)

func init() {
	register(&command{
		name:    "builtin",
		summary: "list the built-in plans, or show one's files (builtin list | builtin show NAME)",
		run:     runBuiltin,
	})
}

func runBuiltin(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("builtin", stderr)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: plan builtin list\n       plan builtin show NAME [FILE...]")
	}
	if code, ok := parseFlags(fl, args, stderr); !ok {
		return code
	}
	rest := fl.Args()
	if len(rest) == 0 {
		fl.Usage()
		return exitUsage
	}
	switch rest[0] {
	case "list":
		if len(rest) != 1 {
			fmt.Fprintln(stderr, "plan builtin list: takes no arguments")
			return exitUsage
		}
		for _, p := range builtinplans.List() {
			fmt.Fprintf(stdout, "%-16s %s\n", p.Name, p.Description)
		}
		return exitOK
	case "show":
		if len(rest) < 2 {
			fmt.Fprintln(stderr, "plan builtin show: name a built-in plan (see `plan builtin list`)")
			return exitUsage
		}
		bp, ok := builtinplans.Lookup(rest[1])
		if !ok {
			fmt.Fprintf(stderr, "plan builtin show: no built-in plan %q (built-ins: %s)\n", rest[1], builtinNames())
			return exitUsage
		}
		files := builtinplans.Files(bp.Name)
		if want := rest[2:]; len(want) > 0 {
			var picked []string
			for _, w := range want {
				full := bp.Name + "/" + strings.TrimPrefix(w, bp.Name+"/")
				found := false
				for _, f := range files {
					if f == full {
						picked, found = append(picked, f), true
					}
				}
				if !found {
					fmt.Fprintf(stderr, "plan builtin show: plan %s has no file %q\n", bp.Name, w)
					return exitUsage
				}
			}
			files = picked
		}
		for i, f := range files {
			b, err := fs.ReadFile(builtinplans.FS(), f)
			if err != nil {
				fmt.Fprintf(stderr, "plan builtin show: %v\n", err)
				return exitFailed
			}
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "# ==> %s <==\n", f)
			stdout.Write(b)
			if len(b) > 0 && b[len(b)-1] != '\n' {
				fmt.Fprintln(stdout)
			}
		}
		return exitOK
	}
	fmt.Fprintf(stderr, "plan builtin: unknown subcommand %q (want list or show)\n", rest[0])
	return exitUsage
}
