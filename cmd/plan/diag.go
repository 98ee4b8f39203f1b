package main

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/plan-dev/plan/dsl"
)

// printDiagnostics writes diagnostics the way Terraform does: severity and
// summary, the location as file:line:col with the enclosing block, a source
// snippet with the offending range underlined, then the detail. Every
// secret is replaced by "(sensitive)" in all of it, snippet included. files
// may be nil (no snippets). Never prints a Go stack.
func printDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File, secrets []string) {
	sorted := append(hcl.Diagnostics(nil), diags...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return sorted[i].Severity < sorted[j].Severity // errors (1) before warnings (2)
	})
	for _, d := range sorted {
		printDiagnostic(w, d, files, secrets)
	}
}

// printPlanDiagnostics is printDiagnostics with the plan's files and
// secrets; p may be nil.
func printPlanDiagnostics(w io.Writer, diags hcl.Diagnostics, p *dsl.Plan) {
	if p == nil {
		printDiagnostics(w, diags, nil, nil)
		return
	}
	printDiagnostics(w, diags, p.Files(), p.Secrets())
}

func printDiagnostic(w io.Writer, d *hcl.Diagnostic, files map[string]*hcl.File, secrets []string) {
	red := func(s string) string { return dsl.Redact(s, secrets) }
	sev := "Error"
	if d.Severity == hcl.DiagWarning {
		sev = "Warning"
	}
	fmt.Fprintf(w, "%s: %s\n", sev, red(d.Summary))
	if d.Subject != nil {
		r := *d.Subject
		loc := fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
		f := files[r.Filename]
		if f != nil {
			if cs, ok := f.Nav.(interface{ ContextString(int) string }); ok {
				if c := cs.ContextString(r.Start.Byte); c != "" {
					loc += ", in " + c
				}
			}
		}
		fmt.Fprintf(w, "\n  on %s:\n", red(loc))
		if f != nil {
			writeSnippet(w, f.Bytes, r, red)
		}
	}
	if d.Detail != "" {
		fmt.Fprintln(w)
		for _, line := range strings.Split(red(d.Detail), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	fmt.Fprintln(w)
}

// writeSnippet prints the source lines of r (at most 5) with line numbers,
// and marks the range under a single-line subject with carets.
func writeSnippet(w io.Writer, src []byte, r hcl.Range, red func(string) string) {
	lines := strings.Split(string(src), "\n")
	first, last := r.Start.Line, r.End.Line
	if last < first {
		last = first
	}
	if last-first > 4 {
		last = first + 4
	}
	width := len(fmt.Sprint(last))
	for n := first; n <= last && n-1 < len(lines); n++ {
		if n < 1 {
			continue
		}
		text := strings.TrimRight(strings.ReplaceAll(lines[n-1], "\t", "  "), "\r")
		fmt.Fprintf(w, "  %*d: %s\n", width, n, red(text))
		if first == r.End.Line && n == first {
			raw := lines[n-1]
			startCol := byteToCol(raw, r.Start.Byte-lineStart(src, n))
			endCol := byteToCol(raw, r.End.Byte-lineStart(src, n))
			if endCol <= startCol {
				endCol = startCol + 1
			}
			fmt.Fprintf(w, "  %*s  %s%s\n", width, "", strings.Repeat(" ", startCol), strings.Repeat("^", endCol-startCol))
		}
	}
}

// lineStart is the byte offset of line n (1-based) in src.
func lineStart(src []byte, n int) int {
	off := 0
	for line := 1; line < n; line++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return len(src)
		}
		off += i + 1
	}
	return off
}

// byteToCol converts a byte offset within a line into a display column
// (tabs count as two, as in the printed snippet).
func byteToCol(line string, b int) int {
	if b < 0 {
		return 0
	}
	if b > len(line) {
		b = len(line)
	}
	col := 0
	for _, r := range line[:b] {
		if r == '\t' {
			col += 2
		} else {
			col++
		}
	}
	return col
}
