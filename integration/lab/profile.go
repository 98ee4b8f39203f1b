package lab

import (
	"fmt"
	"os"
	"path/filepath"
)

// olSudoers is /etc/sudoers as Oracle Linux 9's sudo package ships it (the
// lines that change behaviour). What matters to plan: env_reset, and a
// secure_path without /usr/local/bin, so `sudo CMD` finds nothing installed
// there by bare name. Debian has no wheel group; its admin group is sudo, so
// that line is kept too (the plan user is in it).
const olSudoers = `# /etc/sudoers as Oracle Linux 9 ships it (plan lab, HostProfile.OLSudoers)
Defaults   !visiblepw
Defaults    always_set_home
Defaults    match_group_by_gid
Defaults    always_query_group_plugin
Defaults    env_reset
Defaults    env_keep =  "COLORS DISPLAY HOSTNAME HISTSIZE KDEDIR LS_COLORS"
Defaults    env_keep += "MAIL QTDIR USERNAME LANG LC_ADDRESS LC_CTYPE"
Defaults    env_keep += "LC_COLLATE LC_IDENTIFICATION LC_MEASUREMENT LC_MESSAGES"
Defaults    env_keep += "LC_MONETARY LC_NAME LC_NUMERIC LC_PAPER LC_TELEPHONE"
Defaults    env_keep += "LC_TIME LC_ALL LANGUAGE LINGUAS _XKB_CHARSET XAUTHORITY"
Defaults    secure_path = /sbin:/bin:/usr/sbin:/usr/bin

root    ALL=(ALL)       ALL
%wheel  ALL=(ALL)       ALL
%sudo   ALL=(ALL:ALL)   ALL

#includedir /etc/sudoers.d
`

// OLSecurePath is the PATH sudo gives commands on Oracle Linux 8/9.
const OLSecurePath = "/sbin:/bin:/usr/sbin:/usr/bin"

// nmConfig keeps the lab's /etc/resolv.conf (its 1 s timeout to the dead
// nameserver) instead of letting NetworkManager rewrite it without options.
const nmConfig = `# plan lab: NetworkManager manages eth0; resolv.conf stays the lab's.
[main]
rc-manager=unmanaged
`

// nmActivate hands eth0 to its profile once NetworkManager runs: NM leaves
// an interface that was configured before it started "connected
// (externally)" (the lab sets the address from outside), where an installed
// server's NIC is fully managed.
const nmActivate = `[Unit]
Description=plan lab: NetworkManager manages eth0 through its profile
After=NetworkManager.service
Wants=NetworkManager.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/nmcli --wait 30 connection up eth0
[Install]
WantedBy=multi-user.target
`

// loginUser is the user the lab's ssh_config logs in as (root for labs made
// before Options.User existed).
func (l *Lab) loginUser() string {
	if l.User == "" {
		return UserRoot
	}
	return l.User
}

// writeProfileFiles shapes h after l.Profile: sudoers, and the units enabled
// at boot with their configuration.
func (l *Lab) writeProfileFiles(h *Host) error {
	p := l.Profile
	files := map[string]fileSpec{}
	var enable []string
	if p.OLSudoers {
		files["etc/sudoers"] = fileSpec{olSudoers, 0o440}
	}
	if p.Firewalld {
		enable = append(enable, "firewalld.service")
	}
	if p.NetworkManager {
		files["etc/NetworkManager/conf.d/90-plan-lab.conf"] = fileSpec{nmConfig, 0o644}
		files["etc/NetworkManager/system-connections/eth0.nmconnection"] = fileSpec{l.nmConnection(h), 0o600}
		files["etc/systemd/system/lab-nm-eth0.service"] = fileSpec{nmActivate, 0o644}
		enable = append(enable, "NetworkManager.service", "lab-nm-eth0.service")
	}
	for rel, f := range files {
		path := filepath.Join(h.Root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		_ = os.Remove(path)
		if err := os.WriteFile(path, []byte(f.content), f.mode); err != nil {
			return fmt.Errorf("write %s: %w", rel, err)
		}
		if err := os.Chmod(path, f.mode); err != nil { // umask
			return err
		}
	}
	// What `systemctl enable` would do, without a running systemd.
	for _, unit := range enable {
		wants := filepath.Join(h.Root, "etc/systemd/system/multi-user.target.wants")
		if err := os.MkdirAll(wants, 0o755); err != nil {
			return err
		}
		link := filepath.Join(wants, unit)
		_ = os.Remove(link)
		target := "/lib/systemd/system/" + unit
		if _, err := os.Stat(filepath.Join(h.Root, "etc/systemd/system", unit)); err == nil {
			target = "/etc/systemd/system/" + unit
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("enable %s: %w", unit, err)
		}
	}
	return nil
}

type fileSpec struct {
	content string
	mode    os.FileMode
}

// nmConnection is the keyfile profile an installed server has for its NIC:
// the lab's static address, its dead-end default route, the service range.
func (l *Lab) nmConnection(h *Host) string {
	return fmt.Sprintf(`[connection]
id=eth0
type=ethernet
interface-name=eth0
autoconnect=true

[ethernet]

[ipv4]
method=manual
address1=%s/24,10.77.%d.254
route1=%s
ignore-auto-dns=true

[ipv6]
method=disabled
`, h.Address, l.ID, ServiceRange)
}
