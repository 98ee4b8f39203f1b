package executor

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/plan-dev/plan/dsl"
)

// --limit keeps the nodes on the hosts named, plus the nodes on other
// hosts they depend on; --only with a typo suggests the task.
func TestSelectHostsAndOnlySuggestion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	err := os.WriteFile(path, []byte(`group "masters" {}
group "workers" {}
task "ca" {
  on = group.masters.hosts[0]
  run "x" {
    command = "true"
  }
  output "crt" {
    value = step.x.stdout
  }
}
task "join" {
  on = group.workers.hosts
  run "x" {
    command = "echo ${task.ca.output.crt}"
  }
}
task "other" {
  on = group.workers.hosts
  run "x" {
    command = "true"
  }
}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p, diags := dsl.Load([]string{path}, dsl.Options{Hosts: []string{"masters=cp1", "workers=w1,w2"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	all := p.Nodes()
	sel, err := selectNodes(all, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for n := range selectHosts(all, sel, []string{"w2"}) {
		ids = append(ids, n.ID)
	}
	sort.Strings(ids)
	if got := strings.Join(ids, " "); got != "ca[cp1] join[w2] other[w2]" {
		t.Errorf("--limit w2 selects %s", got)
	}
	_, err = selectNodes(all, []string{"jion"})
	if err == nil || !strings.Contains(err.Error(), `Did you mean "join"?`) || strings.Contains(err.Error(), "other") {
		t.Errorf("--only jion: %v", err)
	}
}

// --only TASK selects every instance of a for_each task; --only
// TASK["key"] one of them.
func TestOnlyForEachInstances(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	err := os.WriteFile(path, []byte(`group "g" {}
task "app" {
  for_each = toset(["a", "b"])
  on       = group.g.hosts
  run "x" {
    command = "echo ${each.key}"
  }
}
task "other" {
  on = group.g.hosts
  run "x" {
    command = "true"
  }
}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p, diags := dsl.Load([]string{path}, dsl.Options{Hosts: []string{"h1"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for only, want := range map[string]string{
		"app":      `app["a"][h1] app["b"][h1]`,
		`app["b"]`: `app["b"][h1]`,
		"other":    "other[h1]",
	} {
		sel, err := selectNodes(p.Nodes(), []string{only})
		if err != nil {
			t.Fatalf("--only %s: %v", only, err)
		}
		var ids []string
		for n := range sel {
			ids = append(ids, n.ID)
		}
		sort.Strings(ids)
		if got := strings.Join(ids, " "); got != want {
			t.Errorf("--only %s selects %s, want %s", only, got, want)
		}
	}
}
