// Command pause is the sandbox ("pause") container of every Kubernetes pod: it holds the pod's
// namespaces open and does nothing else. As PID 1 of the pod's PID namespace (when the pod
// shares one) it must reap orphaned children, and it must exit promptly on SIGTERM or SIGINT,
// which is how the runtime stops a sandbox.
//
// It is built by the artifacts builder into the registry.k8s.io/pause image; it replaces the
// upstream C program, which cannot be built from the Go module proxy.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (plan artifacts)")
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", sig)
			os.Exit(0)
		}
		reapChildren()
	}
}

// reapChildren collects every exited child so that none stays a zombie. Several SIGCHLDs can
// coalesce into one, hence the loop until there is nothing left to wait for.
func reapChildren() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
