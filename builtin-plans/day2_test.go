package builtinplans_test

import (
	"bytes"
	"os"
	"testing"
)

// Each built-in plan is self-contained (plan init writes one plan out), so the scripts that
// two plans share are copies: they must stay the same.
func TestSharedScriptsAreTheSame(t *testing.T) {
	for _, pair := range [][2]string{
		{"scratch-reset/templates/reset.sh", "scratch-remove/templates/reset.sh"},
		{"scratch/templates/wait.sh", "scratch-restore/templates/wait.sh"},
	} {
		a, err := os.ReadFile(pair[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(pair[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: copy it over", pair[1], pair[0])
		}
	}
}
