package dsl

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Each step form decodes into the Step the executor gets.
func TestStepDecoding(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		check func(t *testing.T, st *Step, dir string)
	}{
		{"run with guards", `run "s" {
    command = "echo hi"
    creates = "/etc/done"
    unless  = "test -f /x"
    sudo    = false
    timeout = "90s"
    env     = { A = "1" }
  }`, func(t *testing.T, st *Step, _ string) {
			if st.Kind != StepRun || st.Command != "echo hi" || st.Creates != "/etc/done" || st.Unless != "test -f /x" ||
				st.Sudo || st.Timeout != 90*time.Second || st.Env["A"] != "1" || st.Env["TASK"] != "t" {
				t.Errorf("%+v", st)
			}
		}},
		{"script inline", `script "s" {
    content = <<-EOT
      echo "$HOME" $${X}
    EOT
  }`, func(t *testing.T, st *Step, _ string) {
			if st.Kind != StepScript || st.Script != "echo \"$HOME\" ${X}\n" || st.Interpreter != "/bin/sh -s" {
				t.Errorf("%+v", st)
			}
		}},
		{"script from file", `script "s" {
    source      = "files/s.sh"
    interpreter = "/bin/bash -s"
  }`, func(t *testing.T, st *Step, _ string) {
			if st.Script != "echo from file\n" || st.Interpreter != "/bin/bash -s" {
				t.Errorf("%+v", st)
			}
		}},
		{"file content, numeric mode", `file "s" {
    destination = "/etc/x"
    content     = "x=${target.name}"
    mode        = 640
    owner       = "root"
    group       = "adm"
  }`, func(t *testing.T, st *Step, _ string) {
			if st.Destination != "/etc/x" || string(st.Content) != "x=h" || st.Mode != fs.FileMode(0o640) || st.Owner != "root" || st.Group != "adm" {
				t.Errorf("%+v", st)
			}
		}},
		{"file relative source", `file "s" {
    destination = "/usr/local/bin/s.sh"
    source      = "files/s.sh"
  }`, func(t *testing.T, st *Step, dir string) {
			if st.Source != filepath.Join(dir, "files", "s.sh") || st.SourceFS != nil || st.Content != nil {
				t.Errorf("%+v", st)
			}
		}},
		{"file absolute source", `file "s" {
    destination = "/usr/local/bin/kubelet"
    source      = "/etc/passwd"
  }`, func(t *testing.T, st *Step, _ string) {
			if st.Source != "/etc/passwd" || st.SourceFS != nil {
				t.Errorf("%+v", st)
			}
		}},
		{"fetch", `fetch "s" {
    source = "/etc/hostname"
  }`, func(t *testing.T, st *Step, _ string) {
			if st.Kind != StepFetch || st.Source != "/etc/hostname" || !st.Sudo {
				t.Errorf("%+v", st)
			}
		}},
		{"reboot with retry", `reboot "s" {
    timeout = 600
    retry {
      attempts = 4
      delay    = "1m"
    }
  }`, func(t *testing.T, st *Step, _ string) {
			if st.Kind != StepReboot || st.Timeout != 10*time.Minute || st.Retry != (Retry{Attempts: 4, Delay: time.Minute}) {
				t.Errorf("%+v", st)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writePlan(t, map[string]string{
				"plan.hcl": "group \"g\" {}\ntask \"t\" {\n  on   = group.g.hosts\n  sudo = true\n  env  = { TASK = \"t\" }\n  " +
					c.body + "\n}\n",
				"files/s.sh": "echo from file\n",
			})
			p := mustLoad(t, dir, Options{Hosts: []string{"h"}})
			ev, diags := p.Evaluator(nodeByID(t, p, "t[h]"), outputs{})
			if diags.HasErrors() {
				t.Fatal(diagText(diags))
			}
			st, run, d := ev.Step(0)
			if d.HasErrors() || !run {
				t.Fatalf("run=%v %s", run, diagText(d))
			}
			abs, _ := filepath.Abs(dir)
			c.check(t, st, abs)
		})
	}
}

// Relative sources of an embedded plan resolve inside its FS.
func TestEmbeddedPlanPaths(t *testing.T) {
	dir := writePlan(t, map[string]string{
		"p/plan.hcl":    "group \"g\" {}\ntask \"t\" {\n  on = group.g.hosts\n  file \"f\" {\n    destination = \"/x\"\n    source = \"files/a\"\n  }\n  file \"g\" {\n    destination = \"/y\"\n    content = file(\"files/a\")\n  }\n}\n",
		"p/files/a":     "A\n",
		"other/ignored": "",
	})
	fsys := osDirFS(dir)
	p := mustLoad(t, "p", Options{FS: fsys, Hosts: []string{"h"}})
	ev, _ := p.Evaluator(nodeByID(t, p, "t[h]"), outputs{})
	st, _, d := ev.Step(0)
	if d.HasErrors() || st.Source != "p/files/a" || st.SourceFS == nil {
		t.Fatalf("%+v %s", st, diagText(d))
	}
	if b, err := fs.ReadFile(st.SourceFS, st.Source); err != nil || string(b) != "A\n" {
		t.Errorf("read through SourceFS: %q %v", b, err)
	}
	st, _, d = ev.Step(1)
	if d.HasErrors() || string(st.Content) != "A\n" {
		t.Errorf("file() in an embedded plan: %+v %s", st, diagText(d))
	}
}

func osDirFS(dir string) fs.FS { return os.DirFS(dir) }
