package lab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A Lab value closed late, after its id went to a newer lab, must leave the
// newer lab's directory (and so its names) alone.
func TestCloseAfterIDReuseTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	old := &Lab{ID: 77, Dir: dir, Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	newer := &Lab{ID: 77, Dir: dir, Created: old.Created.Add(time.Hour), Bridge: "plab77"}
	b, err := json.Marshal(newer)
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state.json")
	if err := os.WriteFile(state, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if !old.reused() {
		t.Fatal("reused() = false for a lab whose id belongs to a newer lab")
	}
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("the newer lab's state is gone: %v", err)
	}
	if newer.reused() {
		t.Fatal("reused() = true for the lab that owns the id")
	}
}
