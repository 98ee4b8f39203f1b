// Command build-artifacts fills the artifacts directory the scratch plan pushes in its
// air-gapped mode, building from the Go module proxy only what is missing for the pinned
// versions:
//
//	go run ./integration/artifacts/cmd/build-artifacts [-dir DIR] [-work DIR] [-only kubernetes,etcd,...] [-previous] [-list]
//
// -previous selects instead the versions the upgrade proof starts from (Kubernetes, etcd and
// containerd at artifacts.Previous*Version), installed next to the pinned ones.
//
// DIR defaults to $PLAN_ARTIFACTS_DIR or /var/cache/plan-artifacts; the scratch modules, Go
// build and module caches and logs live in -work ($PLAN_ARTIFACTS_WORK or
// /var/cache/plan-artifacts-build). It exits 1 when a component failed to build, 2 on a wrong
// command line.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/plan-dev/plan/integration/artifacts"
)

func main() {
	dir := flag.String("dir", artifacts.DirFromEnv(), "artifacts directory (env "+artifacts.DirEnv+")")
	work := flag.String("work", artifacts.WorkDirFromEnv(), "scratch modules, Go caches and logs (env "+artifacts.WorkDirEnv+")")
	only := flag.String("only", "", "comma-separated components to build (default all; \"images\" = every image): "+strings.Join(artifacts.Names(artifacts.Components()), ","))
	list := flag.Bool("list", false, "print each component, its version and whether it is present, then exit")
	nice := flag.Bool("nice", true, "run builds under nice -n 10")
	previous := flag.Bool("previous", false, "the versions the upgrade proof starts from: "+describe(artifacts.PreviousComponents()))
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "build-artifacts: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	var names []string
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	all := artifacts.Components()
	if *previous {
		all = artifacts.PreviousComponents()
	}
	cs, err := artifacts.Select(all, names)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-artifacts:", err)
		os.Exit(2)
	}
	if *list {
		for _, c := range cs {
			ok, err := artifacts.Present(*dir, c)
			if err != nil {
				fmt.Fprintln(os.Stderr, "build-artifacts:", err)
				os.Exit(1)
			}
			state := "missing"
			if ok {
				state = "present"
			}
			fmt.Printf("%-12s %-9s %-8s %s\n", c.Name, c.Version, state, c.Dir)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &artifacts.Builder{Dir: *dir, WorkDir: *work, Progress: os.Stdout, Nice: *nice}
	if _, err := b.Build(ctx, cs); err != nil {
		fmt.Fprintln(os.Stderr, "build-artifacts:", err)
		os.Exit(1)
	}
	fmt.Printf("artifacts ready in %s (%s, %s)\n", *dir, artifacts.SumsFile, artifacts.IndexFile)
}

// describe lists components as "name version, ...".
func describe(cs []artifacts.Component) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.Name+" "+c.Version)
	}
	return strings.Join(parts, ", ")
}
