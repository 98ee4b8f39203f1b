package artifacts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteAndVerifySums(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etcd/v3"), 0o755)
	os.WriteFile(filepath.Join(dir, "etcd/v3/etcd"), []byte("hello\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "b.tar"), []byte(""), 0o644)
	if _, err := WriteSums(dir, []string{"etcd/v3/etcd", "b.tar"}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	// sha256sum(1)'s format, sorted by path; the values are sha256("") and sha256("hello\n").
	want := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  b.tar\n" +
		"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  etcd/v3/etcd\n"
	if string(data) != want {
		t.Errorf("SHA256SUMS =\n%s\nwant\n%s", data, want)
	}
	if _, err := VerifySums(dir); err != nil {
		t.Errorf("fresh sums do not verify: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "etcd/v3/etcd"), []byte("tampered\n"), 0o755)
	if _, err := VerifySums(dir); err == nil || !strings.Contains(err.Error(), "etcd/v3/etcd") {
		t.Errorf("tampered file not reported: %v", err)
	}
	os.WriteFile(filepath.Join(dir, SumsFile), []byte("nonsense\n"), 0o644)
	if _, err := ReadSums(filepath.Join(dir, SumsFile)); err == nil {
		t.Error("a malformed line was accepted")
	}
}
