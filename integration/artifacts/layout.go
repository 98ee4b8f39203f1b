package artifacts

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Component is one unit of the artifacts directory that is built (or skipped) as a whole:
// a set of binaries under NAME/VERSION/, or one image tarball under images/.
type Component struct {
	// Name is what -only selects: "kubernetes", "etcd", ..., "pause", "flannel", "coredns".
	Name    string
	Version string
	// Dir is the directory, relative to the artifacts directory, the files go into.
	Dir string
	// Files are the file names inside Dir.
	Files []string
	// Image is set for image components.
	Image *ImageInfo
	// Source says where the component comes from, for versions.json and the curious.
	Source string

	build buildFunc
}

// ImageInfo describes an image component's tarball.
type ImageInfo struct {
	Ref        string   `json:"ref"`
	Entrypoint []string `json:"entrypoint"`
}

// Paths lists the component's files relative to the artifacts directory, with forward
// slashes (the form SHA256SUMS and the plan use).
func (c Component) Paths() []string {
	ps := make([]string, len(c.Files))
	for i, f := range c.Files {
		ps[i] = path.Join(c.Dir, f)
	}
	return ps
}

// IsImage tells an image tarball from a directory of binaries.
func (c Component) IsImage() bool { return c.Image != nil }

// ImageGroup is the -only name that selects every image component.
const ImageGroup = "images"

// Select returns the components named in only (all when only is empty). "images" stands for
// every image. An unknown name is an error, so a typo does not silently build nothing.
func Select(all []Component, only []string) ([]Component, error) {
	if len(only) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range only {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if n == ImageGroup {
			for _, c := range all {
				if c.IsImage() {
					want[c.Name] = true
				}
			}
			continue
		}
		found := false
		for _, c := range all {
			if c.Name == n {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown component %q (known: %s, %s)", n, strings.Join(Names(all), ", "), ImageGroup)
		}
		want[n] = true
	}
	var sel []Component
	for _, c := range all {
		if want[c.Name] {
			sel = append(sel, c)
		}
	}
	return sel, nil
}

// Names lists the components' names in order.
func Names(cs []Component) []string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return names
}

// Present reports whether every file of c is in dir: a non-empty regular file, executable
// unless it is an image tarball. A half-copied or chmod-less file counts as missing, so the
// component is built again.
func Present(dir string, c Component) (bool, error) {
	for _, p := range c.Paths() {
		info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p)))
		if os.IsNotExist(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("check %s: %w", p, err)
		}
		if !info.Mode().IsRegular() || info.Size() == 0 {
			return false, nil
		}
		if !c.IsImage() && info.Mode().Perm()&0o111 == 0 {
			return false, nil
		}
	}
	return true, nil
}

// Missing returns the components of cs that are not (completely) present in dir.
func Missing(dir string, cs []Component) ([]Component, error) {
	var missing []Component
	for _, c := range cs {
		ok, err := Present(dir, c)
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, c)
		}
	}
	return missing, nil
}

// PresentPaths lists, sorted, the files of every component of cs that is present in dir.
func PresentPaths(dir string, cs []Component) ([]string, error) {
	var paths []string
	for _, c := range cs {
		ok, err := Present(dir, c)
		if err != nil {
			return nil, err
		}
		if ok {
			paths = append(paths, c.Paths()...)
		}
	}
	sort.Strings(paths)
	return paths, nil
}
