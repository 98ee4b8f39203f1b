// Package builtinplans embeds the plans that ship inside the plan binary,
// one directory per plan (builtin-plans/NAME/*.hcl plus templates/ and
// files/), and finds them by name.
package builtinplans

import (
	"bufio"
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// The embedded tree: each plan's *.hcl files, and templates/ and files/ in
// full (names starting with . or _ included).
//
//go:embed */*.hcl all:*/templates all:*/files
var files embed.FS

// Plan is one built-in plan.
type Plan struct {
	Name        string
	Description string // one line
}

// FS returns the tree of every built-in plan: NAME/file.hcl, NAME/templates/...
func FS() fs.FS { return files }

// List returns the built-in plans, sorted by name. A directory is a plan
// when it holds at least one *.hcl file.
func List() []Plan {
	ents, _ := fs.ReadDir(files, ".")
	var out []Plan
	for _, e := range ents {
		if !e.IsDir() || e.Name() == "testdata" {
			continue
		}
		if hcls := hclFiles(e.Name()); len(hcls) > 0 {
			out = append(out, Plan{Name: e.Name(), Description: describe(e.Name(), hcls)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup says whether a built-in plan called name exists. "scratch.hcl"
// and "scratch" both name the plan in builtin-plans/scratch/.
func Lookup(name string) (Plan, bool) {
	name = strings.TrimSuffix(strings.TrimSuffix(name, "/"), ".hcl")
	for _, p := range List() {
		if p.Name == name {
			return p, true
		}
	}
	return Plan{}, false
}

// Files lists every file of the plan (paths relative to FS), sorted.
func Files(name string) []string {
	var out []string
	_ = fs.WalkDir(files, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == "testdata" {
			return fs.SkipDir
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func hclFiles(dir string) []string {
	ents, _ := fs.ReadDir(files, dir)
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".hcl") {
			out = append(out, path.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// describe returns the plan's one-line description: the first comment line
// of its first *.hcl file (by name).
func describe(dir string, hcls []string) string {
	f, err := files.Open(hcls[0])
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "#"):
			return strings.TrimSpace(strings.TrimLeft(line, "#"))
		case strings.HasPrefix(line, "//"):
			return strings.TrimSpace(strings.TrimLeft(line, "/"))
		}
		break
	}
	return ""
}
