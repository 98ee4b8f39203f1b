package artifacts

import (
	"runtime"
	"sort"
)

// IndexFile describes the artifacts directory for people and for the scratch plan: versions,
// sources, files with their sha256, image references.
const IndexFile = "versions.json"

// Index is the content of versions.json.
type Index struct {
	// Versions maps component name to version: the values the scratch plan pins.
	Versions   map[string]string `json:"versions"`
	Components []IndexEntry      `json:"components"`
	GoVersion  string            `json:"go_version"`
}

// IndexEntry is one component in versions.json.
type IndexEntry struct {
	Name    string     `json:"name"`
	Version string     `json:"version"`
	Present bool       `json:"present"`
	Source  string     `json:"source"`
	Image   *ImageInfo `json:"image,omitempty"`
	// Files maps each path (relative to the artifacts directory) to its sha256.
	Files        map[string]string `json:"files"`
	BuiltAt      string            `json:"built_at,omitempty"`
	BuildSeconds float64           `json:"build_seconds,omitempty"`
	Notes        []string          `json:"notes,omitempty"`
}

// NewIndex describes components cs; sums holds the sha256 of every present file and rec, when
// it knows, how the component was built.
func NewIndex(cs []Component, sums map[string]string, rec func(Component) *record) Index {
	idx := Index{Versions: map[string]string{}, GoVersion: runtime.Version()}
	for _, c := range cs {
		idx.Versions[c.Name] = c.Version
		e := IndexEntry{Name: c.Name, Version: c.Version, Source: c.Source, Image: c.Image, Files: map[string]string{}, Present: true}
		for _, p := range c.Paths() {
			sum, ok := sums[p]
			if !ok {
				e.Present = false
			}
			e.Files[p] = sum
		}
		if r := rec(c); r != nil && e.Present {
			e.BuiltAt = r.BuiltAt.Format("2006-01-02T15:04:05Z")
			e.BuildSeconds = r.Seconds
			e.Notes = r.Notes
		}
		idx.Components = append(idx.Components, e)
	}
	return idx
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
