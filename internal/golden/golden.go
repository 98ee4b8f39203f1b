// Package golden compares a test's output with a golden file, or rewrites
// the file when the test runs with -update: the one implementation the
// golden tests of dsl and builtin-plans share.
package golden

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Check compares got with the file at path; with update set it writes got
// there instead. refresh is the command that refreshes the file, named in
// the failure so a reviewer knows how to accept a deliberate change.
func Check(t testing.TB, path, got string, update bool, refresh string) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run %s to create it)", err, refresh)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (run %s and review the diff):\n%s", path, refresh, FirstDiff(string(want), got))
	}
}

// FirstDiff shows the first line where a (the golden file) and b (the
// output) differ.
func FirstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  golden: %q\n  output: %q", i+1, x, y)
		}
	}
	return "(no line differs)"
}
