package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A sensitive variable and a sensitive output made on one host never show
// in the output (JSON or text), the logs or the state.
func TestE2ESecretsNeverLeak(t *testing.T) {
	needLab(t)
	dir := t.TempDir()
	onHost(t, 2, "rm -f /root/e2e-d-token")
	const password = "pa55-Word-e2e-xyzzy"
	p := writePlan(t, dir, `
variable "password" {
  type      = string
  sensitive = true
}

group "all" {}

task "leak" {
  on = group.all.hosts[0]
  run "echo" {
    command = "echo the password is ${var.password}; echo on stderr ${var.password} >&2"
  }
  run "fail" {
    command = "echo failing with ${var.password} >&2; exit 3"
  }
}

task "token" {
  on = group.all.hosts[1]
  run "make" {
    command = "echo tok-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \\n')"
  }
  output "value" {
    value     = trimspace(step.make.stdout)
    sensitive = true
  }
}

task "use" {
  on = group.all.hosts[2]
  file "token" {
    destination = "/root/e2e-d-token"
    content     = task.token.output.value
    mode        = "0600"
  }
  run "show" {
    command = "cat /root/e2e-d-token"
  }
}
`)
	r := plan(t, dir, p, "--var", "password="+password)
	if r.exit != 1 {
		t.Fatalf("exit %d, want 1 (leak fails):\n%s\n%s", r.exit, r.stdout, r.stderr)
	}
	token := strings.TrimSpace(onHost(t, 2, "cat /root/e2e-d-token"))
	if !strings.HasPrefix(token, "tok-") || len(token) != 20 {
		t.Fatalf("token on h3: %q", token)
	}
	// The same plan with text output and every output line (-v).
	cmd := exec.Command(planBin, append([]string{"run", p, "-v", "--force", "--var", "password=" + password}, hostArgs()...)...)
	cmd.Dir = dir
	text, _ := cmd.CombinedOutput()
	if !strings.Contains(string(text), "the password is [REDACTED]") {
		t.Errorf("text output lacks the redacted line:\n%s", text)
	}

	everything := r.stdout + r.stderr + string(text)
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() || strings.HasSuffix(path, ".key") {
			return err
		}
		b, err := os.ReadFile(path)
		everything += string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{password, token} {
		if strings.Contains(everything, secret) {
			t.Errorf("secret %q leaked into output, logs or state", secret)
		}
	}
	if !strings.Contains(everything, "failing with [REDACTED]") {
		t.Error("the failure's stderr is not shown redacted")
	}
}

// --dry-run reports what would change and changes nothing.
func TestE2EDryRun(t *testing.T) {
	needLab(t)
	dir := t.TempDir()
	onHost(t, 0, "rm -f /root/e2e-e-*; echo same > /root/e2e-e-same; chmod 644 /root/e2e-e-same")
	p := writePlan(t, dir, `
group "all" {}

task "t" {
  on = group.all.hosts[0]
  file "same" {
    destination = "/root/e2e-e-same"
    content     = "same\n"
    mode        = "0644"
  }
  file "new" {
    destination = "/root/e2e-e-new"
    content     = "new\n"
  }
  run "touch" {
    command = "touch /root/e2e-e-touched"
  }
  run "guarded" {
    command = "touch /root/e2e-e-guarded"
    creates = "/root/e2e-e-same"
  }
}
`)
	r := plan(t, dir, p, "--dry-run")
	if r.exit != 0 {
		t.Fatalf("exit %d:\n%s\n%s", r.exit, r.stdout, r.stderr)
	}
	status := map[string]string{}
	for _, ev := range r.events {
		if ev.Kind == "step_finished" {
			status[ev.Step] = string(ev.Status)
		}
	}
	want := map[string]string{"same": "ok", "new": "changed", "touch": "changed", "guarded": "ok"}
	for k, v := range want {
		if status[k] != v {
			t.Errorf("step %s: %q, want %q (all: %v)", k, status[k], v, status)
		}
	}
	if got := onHost(t, 0, "ls /root | grep e2e-e- || true"); got != "e2e-e-same\n" {
		t.Errorf("dry run changed the host: %q", got)
	}
	if !r.summary(t).DryRun {
		t.Error("summary does not say dry run")
	}
	if _, err := os.Stat(filepath.Join(dir, ".plan/state.json")); err == nil {
		t.Error("dry run wrote the state")
	}
}

// sudo with a password (the lab's "plan" user): the password comes from
// PLAN_SUDO_PASSWORD, works, and is redacted even where the plan itself
// prints it.
func TestE2ESudoPasswordRedacted(t *testing.T) {
	needLab(t)
	dir := t.TempDir()
	password, err := e2eLab.Password()
	if err != nil {
		t.Fatal(err)
	}
	p := writePlan(t, dir, `
variable "shown" {
  type = string
}

group "all" {}

task "root" {
  on   = group.all.hosts
  sudo = true
  run "id" {
    command = "id -u; echo 'printed: ${var.shown}'"
  }
}
`)
	cmd := exec.Command(planBin, "run", p, "-v", "--var", "shown="+password,
		"-F", e2eLab.SSHConfig, "-H", "plan@"+e2eLab.Hosts[0].Alias)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PLAN_SUDO_PASSWORD="+password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("plan run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "id stdout| 0\n") {
		t.Errorf("sudo did not make the command run as root:\n%s", out)
	}
	if !strings.Contains(string(out), "printed: [REDACTED]") {
		t.Errorf("the printed password is not shown redacted:\n%s", out)
	}
	everything := string(out)
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(path)
			everything += string(b)
		}
		return nil
	})
	if strings.Contains(everything, password) {
		t.Error("the sudo password leaked into output, logs or state")
	}
}
