package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/plan-dev/plan/internal/atomicfile"
)

func init() {
	register(&command{
		name:    "fmt",
		summary: "rewrite plan files in the canonical format",
		run:     runFmt,
	})
}

// exitFmtCheck is fmt --check's status when a file is not formatted, as
// Terraform's fmt -check.
const exitFmtCheck = 3

func runFmt(args []string, stdout, stderr io.Writer) int {
	fl := newFlagSet("fmt", stderr)
	check := fl.Bool("check", false, "only check: exit 3 when a file is not formatted, write nothing")
	diff := fl.Bool("diff", false, "print the changes as a unified diff")
	write := fl.Bool("write", true, "write the result back to the files (--write=false to not)")
	list := fl.Bool("list", true, "list the files whose formatting changes")
	recursive := fl.Bool("recursive", false, "also format *.hcl files in subdirectories")
	if code, ok := parseFlags(fl, singleDashLong(args, "check", "diff", "write", "list", "recursive"), stderr); !ok {
		return code
	}
	paths := fl.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	if len(paths) == 1 && paths[0] == "-" {
		src, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintf(stderr, "plan fmt: reading stdin: %v\n", err)
			return exitUsage
		}
		out, diags := formatHCL(src, "<stdin>")
		if diags.HasErrors() {
			printDiagnostics(stderr, diags, map[string]*hcl.File{"<stdin>": {Bytes: src}}, nil)
			return exitUsage
		}
		if *check {
			if !bytes.Equal(src, out) {
				return exitFmtCheck
			}
			return exitOK
		}
		stdout.Write(out)
		return exitOK
	}
	files, err := fmtTargets(paths, *recursive)
	if err != nil {
		fmt.Fprintf(stderr, "plan fmt: %v\n", err)
		return exitUsage
	}
	status := exitOK
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(stderr, "plan fmt: %v\n", err)
			status = exitUsage
			continue
		}
		out, diags := formatHCL(src, name)
		if diags.HasErrors() {
			printDiagnostics(stderr, diags, map[string]*hcl.File{name: {Bytes: src}}, nil)
			status = exitUsage
			continue
		}
		if bytes.Equal(src, out) {
			continue
		}
		if *list {
			fmt.Fprintln(stdout, name)
		}
		if *diff {
			fmt.Fprint(stdout, unifiedDiff(name, string(src), string(out)))
		}
		if *check {
			if status == exitOK {
				status = exitFmtCheck
			}
			continue
		}
		if *write {
			if err := writeFileAtomic(name, out); err != nil {
				fmt.Fprintf(stderr, "plan fmt: %v\n", err)
				status = exitUsage
			}
		}
	}
	return status
}

// singleDashLong accepts Terraform's single-dash long flags (-check,
// -diff=false) by rewriting them to pflag's double-dash form.
func singleDashLong(args []string, names ...string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") {
			name, _, _ := strings.Cut(a[1:], "=")
			for _, n := range names {
				if name == n {
					out[i] = "-" + a
				}
			}
		}
	}
	return out
}

// formatHCL refuses files that do not parse, then formats with hclwrite.
func formatHCL(src []byte, name string) ([]byte, hcl.Diagnostics) {
	if _, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}

func fmtTargets(paths []string, recursive bool) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && (!recursive || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(path, ".hcl") {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// writeFileAtomic replaces name with data atomically, keeping the file's
// mode. A symlink is followed: the file it points to is replaced and the
// link stays a link (renaming over the link would replace it with a copy).
func writeFileAtomic(name string, data []byte) error {
	if target, err := filepath.EvalSymlinks(name); err == nil {
		name = target
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(name); err == nil {
		mode = st.Mode().Perm()
	}
	return atomicfile.WriteFile(name, data, mode)
}

// unifiedDiff is a small line diff (LCS) in unified format with 3 lines of
// context; plan files are small enough for the quadratic table.
func unifiedDiff(name, a, b string) string {
	al := strings.SplitAfter(a, "\n")
	bl := strings.SplitAfter(b, "\n")
	if len(al) > 0 && al[len(al)-1] == "" {
		al = al[:len(al)-1]
	}
	if len(bl) > 0 && bl[len(bl)-1] == "" {
		bl = bl[:len(bl)-1]
	}
	n, m := len(al), len(bl)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		text string
		ai   int
		bi   int
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && al[i] == bl[j]:
			ops = append(ops, op{' ', al[i], i, j})
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', al[i], i, j})
			i++
		default:
			ops = append(ops, op{'+', bl[j], i, j})
			j++
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s (formatted)\n", name, name)
	const ctx = 3
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(k-ctx, 0)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run-end > 2*ctx || run == len(ops) {
				end = min(end+ctx, len(ops))
				break
			}
			end = run
		}
		aStart, bStart, aLen, bLen := ops[start].ai, ops[start].bi, 0, 0
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				aLen++
			}
			if o.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", aStart+1, aLen, bStart+1, bLen)
		for _, o := range ops[start:end] {
			out.WriteByte(o.kind)
			out.WriteString(o.text)
			if !strings.HasSuffix(o.text, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		k = end
	}
	return out.String()
}
