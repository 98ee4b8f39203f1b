package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/plan-dev/plan/executor"
)

// maxStoppedListed bounds the list of nodes that did not run.
const maxStoppedListed = 10

// WriteSummary writes the end-of-run summary: per host counts and time,
// every failure with its step, exit code, stderr tail, log file and the
// command to reproduce it, then what did not run and where logs and state
// are.
func WriteSummary(w io.Writer, s *executor.Summary) {
	title := "Summary"
	switch {
	case s.Interrupted:
		title += " (interrupted)"
	case s.DryRun:
		title += " (dry run: nothing was changed; \"changed\" means would change)"
	}
	fmt.Fprintf(w, "%s: %d nodes in %s: %d ok, %d changed, %d up to date, %d skipped, %d failed\n",
		title, s.Nodes, roundDuration(s.Duration), s.OK, s.Changed, s.UpToDate, s.Skipped, s.Failed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  HOST\tOK\tCHANGED\tUP-TO-DATE\tSKIPPED\tFAILED\tTIME")
	for _, h := range s.Hosts {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%s\n", h.Host, h.OK, h.Changed, h.UpToDate, h.Skipped, h.Failed, roundDuration(h.Duration))
	}
	tw.Flush()
	if s.UpToDate > 0 {
		fmt.Fprintf(w, "%d nodes up to date: they succeeded before with the same inputs (--force or --from TASK runs them again)\n", s.UpToDate)
	}
	for _, f := range s.Failures {
		fmt.Fprintln(w)
		where := f.Task
		if f.Step != "" {
			where += "/" + f.Step
		}
		code := ""
		if f.ExitCode != nil {
			code = fmt.Sprintf(" (exit code %d)", *f.ExitCode)
		}
		fmt.Fprintf(w, "FAILED %s on %s%s: %s\n", where, f.Host, code, f.Error)
		if len(f.Stderr) > 0 {
			fmt.Fprintln(w, "  stderr (last lines):")
			for _, l := range f.Stderr {
				fmt.Fprintf(w, "    | %s\n", l)
			}
		}
		if f.LogFile != "" {
			fmt.Fprintf(w, "  log:       %s\n", f.LogFile)
		}
		if f.Reproduce != "" {
			fmt.Fprintf(w, "  reproduce: %s\n", f.Reproduce)
		}
	}
	if len(s.Stopped) > 0 {
		fmt.Fprintf(w, "\nNot run (%d):\n", len(s.Stopped))
		for i, sk := range s.Stopped {
			if i == maxStoppedListed {
				fmt.Fprintf(w, "  ... and %d more (see the log directory)\n", len(s.Stopped)-i)
				break
			}
			fmt.Fprintf(w, "  %s: %s\n", sk.Node, sk.Reason)
		}
	}
	if len(s.LogErrors) > 0 {
		fmt.Fprintf(w, "\nLog files not written (%d):\n", len(s.LogErrors))
		for _, e := range s.LogErrors {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Logs: %s\n", s.LogDir)
	if s.StatePath != "" {
		fmt.Fprintf(w, "State: %s\n", s.StatePath)
	}
	if s.Interrupted {
		fmt.Fprintln(w, "Interrupted: re-run the same command to resume; nodes that succeeded will not run again.")
	}
	_ = strings.TrimSpace
}
