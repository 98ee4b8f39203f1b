package artifacts

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/plan-dev/plan/internal/atomicfile"
)

// SumsFile is the checksum list at the top of the artifacts directory, in sha256sum(1)'s
// format with paths relative to the directory, so `cd DIR && sha256sum -c SHA256SUMS` checks it.
const SumsFile = "SHA256SUMS"

// FileSHA256 returns the hex sha256 of a file.
func FileSHA256(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", file, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WriteSums hashes paths (relative to dir, forward slashes) and writes dir/SHA256SUMS,
// sorted by path, replacing the old file atomically. It returns the sums it wrote.
func WriteSums(dir string, paths []string) (map[string]string, error) {
	sorted := append([]string(nil), paths...)
	sort.Strings(sorted)
	sums := map[string]string{}
	var b strings.Builder
	for _, p := range sorted {
		sum, err := FileSHA256(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		sums[p] = sum
		fmt.Fprintf(&b, "%s  %s\n", sum, p)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, SumsFile), []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return sums, nil
}

// ReadSums parses a SHA256SUMS file into path → hex sum.
func ReadSums(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		sum, p, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != sha256.Size*2 || p == "" {
			return nil, fmt.Errorf("%s:%d: not a sha256sum line: %q", file, n, line)
		}
		sums[strings.TrimPrefix(p, "*")] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return sums, nil
}

// VerifySums checks every entry of dir/SHA256SUMS against the files; it returns one error
// naming every mismatch or missing file.
func VerifySums(dir string) (map[string]string, error) {
	sums, err := ReadSums(filepath.Join(dir, SumsFile))
	if err != nil {
		return nil, err
	}
	var bad []string
	for p, want := range sums {
		got, err := FileSHA256(filepath.Join(dir, filepath.FromSlash(p)))
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", p, err))
		case got != want:
			bad = append(bad, fmt.Sprintf("%s: sha256 %s, SHA256SUMS says %s", p, got, want))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return sums, fmt.Errorf("%s does not match:\n  %s", SumsFile, strings.Join(bad, "\n  "))
	}
	return sums, nil
}
