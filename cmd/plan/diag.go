package main

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/plan-dev/plan/dsl"
)

// printDiagnostics writes diagnostics the way Terraform does: severity and
// summary, the location as file:line:col with the enclosing block, a source
// snippet with the offending range underlined, then the detail. Every
// secret is replaced by "(sensitive)" in all of it, snippet included. files
// may be nil (no snippets). Never prints a Go stack.
func printDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File, secrets []string) {
	sorted := dsl.BoundDiagnostics(append(hcl.Diagnostics(nil), diags...))
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
	red := func(s string) string { return dsl.EscapeText(dsl.Redact(s, secrets)) }
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
// and marks the range under a single-line subject with carets. A long line
// is cut to a window around the range, and control bytes are escaped, so a
// one-line 40 KB file or binary garbage prints a few readable lines.
func writeSnippet(w io.Writer, src []byte, r hcl.Range, red func(string) string) {
	first, last := r.Start.Line, r.End.Line
	if last < first {
		last = first
	}
	if last-first > 4 {
		last = first + 4
	}
	width := len(fmt.Sprint(last))
	for n := first; n <= last; n++ {
		if n < 1 {
			continue
		}
		start := lineStart(src, n)
		if start >= len(src) && n > 1 {
			break
		}
		end := bytes.IndexByte(src[start:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += start
		}
		raw := strings.TrimRight(string(src[start:end]), "\r")
		hs, he := 0, 0
		if n == first {
			hs = r.Start.Byte - start
		}
		if first == r.End.Line && n == first {
			he = r.End.Byte - start
		}
		text, cs, ce := snippetLine(raw, hs, he, red)
		fmt.Fprintf(w, "  %*d: %s\n", width, n, text)
		if first == r.End.Line && n == first {
			if ce <= cs {
				ce = cs + 1
			}
			fmt.Fprintf(w, "  %*s  %s%s\n", width, "", strings.Repeat(" ", cs), strings.Repeat("^", ce-cs))
		}
	}
}

// maxSnippetLine bounds a printed source line, in bytes of the source.
const maxSnippetLine = 160

// snippetLine returns the printable form of one source line (redacted,
// escaped, tabs as two spaces, cut to a window around the highlighted
// bytes [hs, he)) and the display columns of the highlight.
func snippetLine(raw string, hs, he int, red func(string) string) (string, int, int) {
	clamp := func(b int) int {
		if b < 0 {
			return 0
		}
		if b > len(raw) {
			return len(raw)
		}
		return b
	}
	hs, he = clamp(hs), clamp(he)
	if he < hs {
		he = hs
	}
	ws, we := 0, len(raw)
	prefix, suffix := "", ""
	if len(raw) > maxSnippetLine {
		ws = clamp(hs - maxSnippetLine/3)
		for ws > 0 && !utf8.RuneStart(raw[ws]) {
			ws--
		}
		we = clamp(ws + maxSnippetLine)
		for we < len(raw) && !utf8.RuneStart(raw[we]) {
			we++
		}
		if ws > 0 {
			prefix = "..."
		}
		if we < len(raw) {
			suffix = "..."
		}
	}
	hs, he = max(hs, ws), min(max(he, ws), we)
	if hs > we {
		hs = we
	}
	disp := func(s string) string { return strings.ReplaceAll(red(s), "\t", "  ") }
	pre, mid, post := disp(raw[ws:hs]), disp(raw[hs:he]), disp(raw[he:we])
	cs := utf8.RuneCountInString(prefix + pre)
	ce := cs + utf8.RuneCountInString(mid)
	if full := disp(raw[ws:we]); full != pre+mid+post {
		// A secret spans the highlight's edge: redact the window whole
		// (the carets are then approximate, the secret is still gone).
		return prefix + full + suffix, cs, ce
	}
	return prefix + pre + mid + post + suffix, cs, ce
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
