package dsl

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func loadRolling(t *testing.T, src string, hosts ...string) (*Plan, string) {
	t.Helper()
	dir := writePlan(t, map[string]string{"plan.hcl": src})
	p, diags := Load([]string{filepath.Join(dir, "plan.hcl")}, Options{Hosts: hosts})
	return p, diagText(diags)
}

// serial cuts a task's hosts into batches in the order of on; a
// percentage is of the task's hosts, rounded down, at least 1.
func TestSerialBatches(t *testing.T) {
	cases := []struct {
		serial  string
		hosts   string
		batches string // batch of each host, in on order
		count   int
	}{
		{`1`, "a,b,c", "0,1,2", 3},
		{`2`, "a,b,c,d,e", "0,0,1,1,2", 3},
		{`10`, "a,b", "0,0", 1},
		{`"50%"`, "a,b,c,d,e", "0,0,1,1,2", 3},
		{`"25%"`, "a,b,c", "0,1,2", 3}, // 0.75 hosts: at least 1
		{`"100%"`, "a,b,c", "0,0,0", 1},
		{`var.n`, "a,b,c,d", "0,0,0,1", 2},
	}
	for _, c := range cases {
		src := fmt.Sprintf(`
variable "n" {
  default = 3
}
group "g" {}
task "r" {
  on     = group.g.hosts
  serial = %s
  run "x" {
    command = "true"
  }
}
`, c.serial)
		p, diags := loadRolling(t, src, "g="+c.hosts)
		if diags != "" {
			t.Fatalf("serial %s: %s", c.serial, diags)
		}
		var got []string
		for _, n := range p.Nodes() {
			if n.Rolling == nil {
				t.Fatalf("serial %s: node %s has no rolling", c.serial, n.ID)
			}
			if n.Rolling.Batches != c.count {
				t.Errorf("serial %s: %d batches, want %d", c.serial, n.Rolling.Batches, c.count)
			}
			got = append(got, fmt.Sprint(n.Batch))
		}
		if strings.Join(got, ",") != c.batches {
			t.Errorf("serial %s on %s: batches %s, want %s", c.serial, c.hosts, strings.Join(got, ","), c.batches)
		}
	}
}

// A task without serial has no rolling; max_fail_percentage is read.
func TestSerialDefaultsAndMaxFail(t *testing.T) {
	p, diags := loadRolling(t, `
group "g" {}
task "plain" {
  on = group.g.hosts
  run "x" {
    command = "true"
  }
}
task "r" {
  on                  = group.g.hosts
  serial              = 1
  max_fail_percentage = 30
  run "x" {
    command = "true"
  }
}
`, "g=a,b")
	if diags != "" {
		t.Fatal(diags)
	}
	for _, n := range p.Nodes() {
		switch n.Task {
		case "plain":
			if n.Rolling != nil {
				t.Errorf("%s has rolling %v without serial", n.ID, n.Rolling)
			}
		case "r":
			if n.Rolling == nil || n.Rolling.MaxFailPercentage != 30 {
				t.Errorf("%s: rolling %+v, want max_fail_percentage 30", n.ID, n.Rolling)
			}
		}
	}
}

// Wrong serial and max_fail_percentage are errors at their file:line:col.
func TestSerialErrors(t *testing.T) {
	cases := []struct{ attrs, want string }{
		{`serial = 0`, "plan.hcl:5:12: Invalid serial; A batch has at least 1 host, not 0."},
		{`serial = "0%"`, `plan.hcl:5:12: Invalid serial; A percentage serial is "N%" with N a whole number from 1 to 100, not "0%".`},
		{`serial = "120%"`, `plan.hcl:5:12: Invalid serial; A percentage serial is "N%" with N a whole number from 1 to 100, not "120%".`},
		{`serial = "two"`, `plan.hcl:5:12: Invalid serial`},
		{`serial = 1.5`, `plan.hcl:5:12: Invalid serial`},
		{`serial = target.name`, "plan.hcl:5:12: Invalid reference; serial must be known before anything runs, so it may refer only to var, local, host and group, not target."},
		{`serial = task.other.output.n`, "plan.hcl:5:12: Invalid reference; serial must be known before anything runs"},
		{`max_fail_percentage = 10`, "plan.hcl:5:3: max_fail_percentage without serial"},
		{"serial = 1\n  max_fail_percentage = 101", "plan.hcl:6:25: Invalid max_fail_percentage; A whole number from 0 to 100 is required, not 101."},
		{"serial = 1\n  max_fail_percentage = -1", "plan.hcl:6:25: Invalid max_fail_percentage"},
	}
	for _, c := range cases {
		src := `
group "g" {}
task "r" {
  on = group.g.hosts
  ` + c.attrs + `
  run "x" {
    command = "true"
  }
}
task "other" {
  on = group.g.hosts
  run "x" {
    command = "true"
  }
  output "n" {
    value = 1
  }
}
`
		_, diags := loadRolling(t, src, "g=a,b")
		pos, rest, _ := strings.Cut(c.want, ": ")
		summary, detail, _ := strings.Cut(rest, "; ")
		if !strings.Contains(diags, pos+": error: "+summary) || !strings.Contains(diags, detail) {
			t.Errorf("%s:\n got %s\nwant %s", c.attrs, diags, c.want)
		}
	}
}

// render shows each node's batch; graph labels the task and each node.
func TestSerialRenderAndGraph(t *testing.T) {
	p, diags := loadRolling(t, `
group "g" {}
task "restart" {
  on     = group.g.hosts
  serial = 1
  run "x" {
    command = "true"
  }
}
`, "g=cp1,cp2,cp3")
	if diags != "" {
		t.Fatal(diags)
	}
	var buf bytes.Buffer
	if d := Render(p, &buf); d.HasErrors() {
		t.Fatal(diagText(d))
	}
	want := "=== restart[cp2] (node 2 of 3)\nhost:  cp2 (groups g)\ntask:  restart"
	if !strings.Contains(buf.String(), want) || !strings.Contains(buf.String(), "batch: 2 of 3 (serial 1 (3 batches of 1), max_fail_percentage 0)\n") {
		t.Errorf("render lacks cp2's batch:\n%s", buf.String())
	}
	buf.Reset()
	if err := WriteGraph(p, &buf, GraphDot, GraphTasks); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `label="restart (3 hosts) [serial 1: 3 batches]"`) {
		t.Errorf("graph of tasks:\n%s", buf.String())
	}
	buf.Reset()
	if err := WriteGraph(p, &buf, GraphMermaid, GraphHosts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `["restart[cp3] (batch 3 of 3)"]`) {
		t.Errorf("graph of nodes:\n%s", buf.String())
	}
}

// always_run sets Node.AlwaysRun; render says so; a non-bool is an error.
func TestAlwaysRun(t *testing.T) {
	p, diags := loadRolling(t, `
group "g" {}
task "token" {
  on         = group.g.hosts
  always_run = true
  run "x" {
    command = "true"
  }
}
task "other" {
  on = group.g.hosts
  run "x" {
    command = "true"
  }
}
`, "g=a")
	if diags != "" {
		t.Fatal(diags)
	}
	for _, n := range p.Nodes() {
		if n.AlwaysRun != (n.Task == "token") {
			t.Errorf("%s: AlwaysRun %v", n.ID, n.AlwaysRun)
		}
	}
	var buf bytes.Buffer
	Render(p, &buf)
	if !strings.Contains(buf.String(), "with:  always run (never up to date from the run state)") {
		t.Errorf("render does not show always_run:\n%s", buf.String())
	}
	_, diags = loadRolling(t, `
group "g" {}
task "token" {
  on         = group.g.hosts
  always_run = "often"
  run "x" {
    command = "true"
  }
}
`, "g=a")
	if !strings.Contains(diags, "plan.hcl:5:16: error: Invalid always_run") {
		t.Errorf("always_run = \"often\": %s", diags)
	}
}

// A fetch's destination is a local path, relative allowed; render shows it.
func TestFetchDestination(t *testing.T) {
	p, diags := loadRolling(t, `
group "g" {}
task "backup" {
  on = group.g.hosts
  fetch "snap" {
    source      = "/var/lib/snap.db"
    destination = "backups/${target.name}.db"
  }
}
`, "g=cp1")
	if diags != "" {
		t.Fatal(diags)
	}
	var buf bytes.Buffer
	Render(p, &buf)
	if !strings.Contains(buf.String(), "--- fetch snap <- /var/lib/snap.db (to local backups/cp1.db)") {
		t.Errorf("render:\n%s", buf.String())
	}
}
