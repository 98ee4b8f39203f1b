package dsl

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Bounds on what a plan can make the loader do or print. A plan is text
// from anywhere (a download, a generator gone wrong, binary garbage): a
// diagnostic must stay readable and the loader must stay fast whatever it is.
const (
	// MaxDiagnostics is how many diagnostics Load returns; the rest are
	// counted in one last diagnostic ("N more left out").
	MaxDiagnostics = 30
	// maxDiagText bounds a summary or detail, in bytes.
	maxDiagText = 2000
	// maxNesting bounds brackets, braces, parentheses and template
	// interpolations nested in one another. HCL's parser recurses on each.
	maxNesting = 200
	// maxPlanFile bounds one plan file, in bytes.
	maxPlanFile = 16 << 20
)

// escapeText makes text safe for a terminal: control characters (other
// than newline and tab) and invalid UTF-8 are shown as Go escapes, so a
// plan or argument cannot move the cursor or ring the bell.
func escapeText(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || (unicode.IsControl(r) && r != '\n' && r != '\t') {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r) && r != '\n' && r != '\t':
			q := fmt.Sprintf("%+q", string(r))
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// EscapeText is escapeText for the command line's own messages.
func EscapeText(s string) string { return escapeText(s) }

// clip shortens s to at most max bytes (on a rune boundary), saying so.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (%d more bytes left out)", len(s)-cut)
}

// BoundDiagnostics is boundDiagnostics for diagnostics made outside Load
// (render, the late evaluator), before they are printed.
func BoundDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics { return boundDiagnostics(diags) }

// leftOut is the Extra of the diagnostic that counts those left out, so
// that bounding twice (Load, then the printer) counts them once.
type leftOut struct{ errors, warnings int }

// boundDiagnostics escapes and clips every summary and detail, and keeps
// at most MaxDiagnostics of them (errors first), adding one that counts
// those left out.
func boundDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	var prev leftOut
	rest := make(hcl.Diagnostics, 0, len(diags))
	for _, d := range diags {
		if lo, ok := d.Extra.(leftOut); ok {
			prev.errors += lo.errors
			prev.warnings += lo.warnings
			continue
		}
		stableSuggestion(d)
		d.Summary = clip(escapeText(d.Summary), maxDiagText/4)
		d.Detail = clip(escapeText(d.Detail), maxDiagText)
		rest = append(rest, d)
	}
	kept := rest
	if len(rest) > MaxDiagnostics {
		kept = make(hcl.Diagnostics, 0, MaxDiagnostics+1)
		for _, d := range rest {
			if d.Severity == hcl.DiagError && len(kept) < MaxDiagnostics {
				kept = append(kept, d)
			}
		}
		for _, d := range rest {
			if d.Severity != hcl.DiagError && len(kept) < MaxDiagnostics {
				kept = append(kept, d)
			}
		}
	}
	lo := prev
	for _, d := range rest {
		if d.Severity == hcl.DiagError {
			lo.errors++
		} else {
			lo.warnings++
		}
	}
	for _, d := range kept {
		if d.Severity == hcl.DiagError {
			lo.errors--
		} else {
			lo.warnings--
		}
	}
	if lo.errors == 0 && lo.warnings == 0 {
		return kept
	}
	sev := hcl.DiagWarning
	if lo.errors > 0 {
		sev = hcl.DiagError
	}
	return append(kept, &hcl.Diagnostic{Severity: sev, Summary: "More diagnostics left out", Extra: lo,
		Detail: fmt.Sprintf("%d more errors and %d more warnings were left out; fix the ones above first.", lo.errors, lo.warnings)})
}

// checkNesting refuses a file whose brackets, braces, parentheses or
// interpolations nest deeper than maxNesting, before HCL's recursive
// parser sees it. The count is crude (it does not skip strings), which
// only errs towards the limit on text no one writes by hand.
func checkNesting(src []byte, filename string) *hcl.Diagnostic {
	depth, line, col := 0, 1, 1
	nots := 0 // a run of ! (not), which nests too
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '!':
			nots++
		case c != ' ' && c != '\t':
			nots = 0
		}
		if nots > maxNesting {
			pos := hcl.Pos{Line: line, Column: col, Byte: i}
			return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Nested too deeply",
				Detail:  fmt.Sprintf("More than %d ! in a row; no plan needs that many.", maxNesting),
				Subject: &hcl.Range{Filename: filename, Start: pos, End: hcl.Pos{Line: line, Column: col + 1, Byte: i + 1}}}
		}
		switch c {
		case '(', '[', '{':
			depth++
			if depth > maxNesting {
				pos := hcl.Pos{Line: line, Column: col, Byte: i}
				return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Nested too deeply",
					Detail:  fmt.Sprintf("Brackets, braces, parentheses and ${ } nest more than %d deep here; no plan needs that many.", maxNesting),
					Subject: &hcl.Range{Filename: filename, Start: pos, End: hcl.Pos{Line: line, Column: col + 1, Byte: i + 1}}}
			}
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		}
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return nil
}

// unknownFunc matches HCL's detail for a call to an unknown function.
var unknownFunc = regexp.MustCompile(`^There is no function named "([^"]*)".( Did you mean "[^"]*"\?)?`)

// stableSuggestion redoes HCL's "did you mean" for an unknown function:
// HCL picks among equally close names in map order, so the same plan
// could be told "abs" one run and "can" the next.
func stableSuggestion(d *hcl.Diagnostic) {
	if d.Summary != "Call to unknown function" {
		return
	}
	m := unknownFunc.FindStringSubmatchIndex(d.Detail)
	if m == nil {
		return
	}
	name := d.Detail[m[2]:m[3]]
	d.Detail = fmt.Sprintf("There is no function named %q.%s", name, didYouMean(name, FunctionNames())) + d.Detail[m[1]:]
}
