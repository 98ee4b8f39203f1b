package dsl

import (
	"strings"
	"testing"
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
