package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/plan-dev/plan/dsl"
)

func init() {
	register(&command{
		name:    "validate",
		summary: "check a plan offline: names, types, references, cycles",
		run:     runValidate,
	})
}

func runValidate(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("validate", stderr)
	var pa planArgs
	pa.addFlags(fl)
	asJSON := fl.Bool("json", false, "print the result as JSON in Terraform's validate -json format, on stdout")
	if code, ok := parseFlags(fl, singleDashLong(args, "json"), stderr); !ok {
		return code
	}
	if *asJSON {
		p, diags := pa.loadDiags(fl.Args(), stderr)
		writeValidateJSON(stdout, diags, p)
		if diags.HasErrors() {
			return exitUsage
		}
		return exitOK
	}
	p := pa.load(fl.Args(), stderr)
	if p == nil {
		return exitUsage
	}
	hostsUsed := map[string]bool{}
	for _, n := range p.Nodes() {
		hostsUsed[n.Host.Name] = true
	}
	fmt.Fprintf(stdout, "The plan is valid: %s, %s on %s.\n",
		plural(len(p.Tasks()), "task"), plural(len(p.Nodes()), "node"), plural(len(hostsUsed), "host"))
	return exitOK
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// The JSON of `plan validate -json`: Terraform's format (format_version
// 1.0), so that editors and CI that read `terraform validate -json` read
// it too.
type validateJSON struct {
	FormatVersion string     `json:"format_version"`
	Valid         bool       `json:"valid"`
	ErrorCount    int        `json:"error_count"`
	WarningCount  int        `json:"warning_count"`
	Diagnostics   []diagJSON `json:"diagnostics"`
}

type diagJSON struct {
	Severity string       `json:"severity"`
	Summary  string       `json:"summary"`
	Detail   string       `json:"detail,omitempty"`
	Range    *rangeJSON   `json:"range,omitempty"`
	Snippet  *snippetJSON `json:"snippet,omitempty"`
}

type rangeJSON struct {
	Filename string  `json:"filename"`
	Start    posJSON `json:"start"`
	End      posJSON `json:"end"`
}

type posJSON struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

type snippetJSON struct {
	Context              *string `json:"context"`
	Code                 string  `json:"code"`
	StartLine            int     `json:"start_line"`
	HighlightStartOffset int     `json:"highlight_start_offset"`
	HighlightEndOffset   int     `json:"highlight_end_offset"`
	Values               []any   `json:"values"`
}

// writeValidateJSON writes the diagnostics (bounded, secrets redacted) as
// one JSON object.
func writeValidateJSON(w io.Writer, diags hcl.Diagnostics, p *dsl.Plan) {
	var files map[string]*hcl.File
	var secrets []string
	if p != nil {
		files, secrets = p.Files(), p.Secrets()
	}
	red := func(s string) string { return dsl.EscapeText(dsl.Redact(s, secrets)) }
	out := validateJSON{FormatVersion: "1.0", Diagnostics: []diagJSON{}}
	for _, d := range dsl.BoundDiagnostics(diags) {
		j := diagJSON{Severity: "error", Summary: red(d.Summary), Detail: red(d.Detail)}
		if d.Severity == hcl.DiagWarning {
			j.Severity = "warning"
			out.WarningCount++
		} else {
			out.ErrorCount++
		}
		if r := d.Subject; r != nil {
			j.Range = &rangeJSON{Filename: red(r.Filename),
				Start: posJSON{r.Start.Line, r.Start.Column, r.Start.Byte},
				End:   posJSON{r.End.Line, r.End.Column, r.End.Byte}}
			if f := files[r.Filename]; f != nil {
				j.Snippet = jsonSnippet(f, *r, red)
			}
		}
		out.Diagnostics = append(out.Diagnostics, j)
	}
	out.Valid = out.ErrorCount == 0
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}

// jsonSnippet is the subject's first line (cut to a window around the
// range when long, as the text output does) and the highlight's offsets in
// it.
func jsonSnippet(f *hcl.File, r hcl.Range, red func(string) string) *snippetJSON {
	src := f.Bytes
	start := lineStart(src, r.Start.Line)
	if start > len(src) {
		return nil
	}
	end := strings.IndexByte(string(src[start:]), '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += start
	}
	raw := strings.TrimRight(string(src[start:end]), "\r")
	he := r.End.Byte - start
	if r.End.Line != r.Start.Line {
		he = len(raw)
	}
	code, cs, ce := snippetLine(raw, r.Start.Byte-start, he, func(s string) string { return red(s) })
	s := &snippetJSON{Code: code, StartLine: r.Start.Line, HighlightStartOffset: cs, HighlightEndOffset: ce, Values: []any{}}
	if cs, ok := f.Nav.(interface{ ContextString(int) string }); ok {
		if c := cs.ContextString(r.Start.Byte); c != "" {
			c = red(c)
			s.Context = &c
		}
	}
	return s
}
