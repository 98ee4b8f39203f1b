package artifacts

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/plan-dev/plan/integration/artifacts/ociimage"
)

// BuildEnv set to 1 makes TestArtifactCache build what is missing before checking it.
const BuildEnv = "PLAN_ARTIFACTS_BUILD"

// RequireEnv set to 1 (integration/test.sh sets it once it has built the cache) turns the
// skips for a missing or incomplete cache into failures: a build that only warned must not
// leave CI green with these tests skipped.
const RequireEnv = "PLAN_ARTIFACTS_REQUIRE"

// skipUnlessRequired skips t, or fails it when the cache is required.
func skipUnlessRequired(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf(format+" ("+RequireEnv+"=1: the cache must be complete)", args...)
	}
	t.Skipf(format, args...)
}

func TestArtifactCache(t *testing.T) {
	dir := DirFromEnv()
	components := Components()
	if os.Getenv(BuildEnv) == "1" {
		if testing.Short() {
			t.Skip("-short: not building the artifact cache")
		}
		b := &Builder{Dir: dir, WorkDir: WorkDirFromEnv(), Progress: testWriter{t}, Nice: true}
		if _, err := b.Build(context.Background(), components); err != nil {
			t.Fatalf("build: %v", err)
		}
	} else {
		idx, err := readIndex(dir)
		if os.IsNotExist(err) {
			skipUnlessRequired(t, "no artifact cache in %s: run `go run ./integration/artifacts/cmd/build-artifacts` or set %s=1", dir, BuildEnv)
		}
		if err != nil {
			t.Fatal(err)
		}
		// Check only what the cache says it holds at today's versions; an older cache, or
		// one built with -only, is not this test's failure.
		present := map[string]bool{}
		for _, e := range idx.Components {
			present[e.Name+" "+e.Version] = e.Present
		}
		var checked []Component
		for _, c := range components {
			if present[c.Name+" "+c.Version] {
				checked = append(checked, c)
			} else {
				t.Logf("%s %s: not in the cache, not checked", c.Name, c.Version)
			}
		}
		components = checked
	}

	sums, err := VerifySums(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range components {
		if ok, err := Present(dir, c); err != nil || !ok {
			t.Errorf("%s %s: not all of %v present and executable (%v)", c.Name, c.Version, c.Paths(), err)
			continue
		}
		for _, p := range c.Paths() {
			if _, ok := sums[p]; !ok {
				t.Errorf("%s lacks %s", SumsFile, p)
			}
		}
		if c.IsImage() {
			checkImage(t, filepath.Join(dir, filepath.FromSlash(c.Paths()[0])), *c.Image)
		}
	}
}

func checkImage(t *testing.T, file string, want ImageInfo) {
	t.Helper()
	tags, err := ociimage.Tags(file)
	if err != nil {
		t.Error(err)
		return
	}
	if !reflect.DeepEqual(tags, []string{want.Ref}) {
		t.Errorf("%s: tags %v, want [%s]", file, tags, want.Ref)
	}
	img, err := ociimage.Load(file, want.Ref)
	if err != nil {
		t.Error(err)
		return
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Error(err)
		return
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("%s: platform %s/%s, want linux/amd64", file, cf.OS, cf.Architecture)
	}
	if !reflect.DeepEqual(cf.Config.Entrypoint, want.Entrypoint) {
		t.Errorf("%s: entrypoint %v, want %v", file, cf.Config.Entrypoint, want.Entrypoint)
	}
	if layers, err := img.Layers(); err != nil || len(layers) != 1 {
		t.Errorf("%s: %d layers (%v), want one", file, len(layers), err)
	}
}

func readIndex(dir string) (Index, error) {
	var idx Index
	data, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		return idx, err
	}
	return idx, json.Unmarshal(data, &idx)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
