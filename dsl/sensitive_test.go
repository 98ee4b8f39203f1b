package dsl

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// A function rejecting a sensitive argument must not show any piece of it:
// jsondecode's "invalid character 'S'", formatdate's verb, a length.
func TestFunctionErrorsHideSensitiveArguments(t *testing.T) {
	f := "testdata/invalid/sensitivecalls.hcl"
	_, diags := Load([]string{f}, optionsFromHeader(t, f))
	if !diags.HasErrors() {
		t.Fatal("want errors")
	}
	got := diagText(diags)
	for _, piece := range []string{"SECRET", "'S'", "abc", "xyz", "/99", "length"} {
		if strings.Contains(got, piece) {
			t.Errorf("diagnostics show %q of the sensitive value:\n%s", piece, got)
		}
	}
	if n := strings.Count(got, "which is sensitive"); n != 6 {
		t.Errorf("%d function errors say the value is sensitive, want 6:\n%s", n, got)
	}
}

// Diagnostics are bounded once: Load keeps MaxDiagnostics and counts the
// rest, and bounding again (the printer does) keeps that count.
func TestBoundDiagnosticsCountsOnce(t *testing.T) {
	var diags hcl.Diagnostics
	for i := 0; i < 100; i++ {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("e%d\x1b[2J", i)})
	}
	once := boundDiagnostics(diags)
	twice := boundDiagnostics(once)
	for _, got := range []hcl.Diagnostics{once, twice} {
		if len(got) != MaxDiagnostics+1 {
			t.Fatalf("%d diagnostics", len(got))
		}
		last := got[len(got)-1]
		if !strings.Contains(last.Detail, "70 more errors and 0 more warnings") {
			t.Errorf("last: %s", last.Detail)
		}
		if strings.Contains(got[0].Summary, "\x1b") || !strings.Contains(got[0].Summary, `\x1b`) {
			t.Errorf("not escaped: %q", got[0].Summary)
		}
	}
}
