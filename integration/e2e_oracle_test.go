package integration

// Checks of the Kubernetes proof that are about the hosts being like Oracle Linux's (issue
// #12): the sudo PATH trap is live on them, firewalld and NetworkManager are as the plan left
// them, and a sudo password given to plan is nowhere but where it belongs.

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plan-dev/plan/integration/lab"
)

// checkOracleLike checks every host after the plan built the cluster on it. firewalld is
// the plan's variable: "open" (firewalld runs, with the cluster's services and trusted
// networks) or "disable" (stopped and disabled).
func (c *scratchCluster) checkOracleLike(t *testing.T, firewalld string) {
	t.Run("oracle-like", func(t *testing.T) {
		c := c.with(t)
		for _, h := range c.hosts() {
			// The trap the plan must not fall into is live: sudo's PATH has no /usr/local/bin,
			// where kubectl is.
			out, err := c.sh(h, "test -x /usr/local/bin/kubectl || echo 'no /usr/local/bin/kubectl'; su -s /bin/sh "+lab.UserNopw+" -c 'sudo -n sh -c \"echo \\$PATH; command -v kubectl\"'")
			if err == nil || strings.Contains(out, "no /usr/local/bin/kubectl") || !strings.Contains(out, lab.OLSecurePath) {
				t.Errorf("%s: want sudo's PATH %s without kubectl, and /usr/local/bin/kubectl installed; got err=%v:\n%s", h.Name, lab.OLSecurePath, err, out)
			}

			switch firewalld {
			case "open":
				want := "k8s-node"
				if h == c.master {
					want += " k8s-control-plane"
				}
				out := c.mustSh(h, `systemctl is-active firewalld; z=$(firewall-cmd --get-zone-of-interface=eth0 2>/dev/null) || z=$(firewall-cmd --get-default-zone); echo "services: $(firewall-cmd --zone=$z --list-services) "; echo "trusted: $(firewall-cmd --zone=trusted --list-sources) "`)
				if !strings.HasPrefix(out, "active\n") {
					t.Errorf("%s: firewalld is not running after the plan:\n%s", h.Name, out)
				}
				for _, w := range append(strings.Fields(want), "10.244.0.0/16", "10.96.0.0/12") {
					if !strings.Contains(out, " "+w+" ") {
						t.Errorf("%s: firewalld lacks %s:\n%s", h.Name, w, out)
					}
				}
			case "disable":
				out, _ := c.sh(h, "systemctl is-active firewalld; systemctl is-enabled firewalld")
				if strings.Contains(out, "active\n") && !strings.Contains(out, "inactive") || strings.Contains(out, "\nenabled") {
					t.Errorf("%s: firewalld = disable, yet firewalld is:\n%s", h.Name, out)
				}
			}

			// NetworkManager runs and manages eth0, and leaves the pod network's interfaces alone.
			out = c.mustSh(h, "nmcli -t -f DEVICE,STATE device")
			states := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				dev, state, _ := strings.Cut(line, ":")
				states[dev] = state
			}
			if states["eth0"] != "connected" {
				t.Errorf("%s: NetworkManager does not manage eth0 (%q):\n%s", h.Name, states["eth0"], out)
			}
			if _, ok := states["flannel.1"]; !ok {
				t.Errorf("%s: no flannel.1 in NetworkManager's devices:\n%s", h.Name, out)
			}
			for dev, state := range states {
				if (dev == "cni0" || dev == "flannel.1" || strings.HasPrefix(dev, "veth")) && state != "unmanaged" {
					t.Errorf("%s: NetworkManager has %s as %q, want unmanaged", h.Name, dev, state)
				}
			}
		}
	})
}

// checkPasswordNowhere: the sudo password given through PLAN_SUDO_PASSWORD appears in no
// output of any run, no log, no run state, and on no host's filesystem outside /etc/shadow's
// hash (which is not the password).
func (c *scratchCluster) checkPasswordNowhere(t *testing.T) {
	t.Run("password-nowhere", func(t *testing.T) {
		if c.password == "" {
			t.Fatal("no sudo password in this test: the check proves nothing")
		}
		if strings.Contains(c.outputs.String(), c.password) {
			t.Errorf("the sudo password appears in plan's output")
		}
		if c.outputs.Len() == 0 {
			t.Errorf("no plan output was gathered")
		}
		files := 0
		err := filepath.WalkDir(c.work, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			if bytes.Contains(b, []byte(c.password)) {
				t.Errorf("the sudo password is in %s", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files < 10 {
			t.Errorf("only %d files under %s: where are the logs and the run state?", files, c.work)
		}
		for _, h := range c.hosts() {
			// The password is the lab's random test material; the script runs inside the
			// host (nsenter), not over SSH, and only file names are printed.
			out, err := c.sh(h, "grep -rlsF -- '"+c.password+"' --exclude-dir=containerd /etc /var/log /var/lib /tmp /root /home /run 2>/dev/null; true")
			if err != nil {
				t.Errorf("%s: grep: %v", h.Name, err)
			}
			if strings.TrimSpace(out) != "" {
				t.Errorf("%s: the sudo password is in %s", h.Name, strings.Join(strings.Fields(out), ", "))
			}
		}
	})
}
