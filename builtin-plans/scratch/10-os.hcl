# Facts about every host, then OS preparation (seed: "構成" and step 1).

# What the plan needs to know about each host: its OS (OL7 is refused here, with the
# reason), the IPv4 address and interface the cluster uses, and the kubelet's node name.
task "facts" {
  on   = local.all_hosts
  sudo = true # the conntrack probe needs root

  script "detect" {
    changed = false # only reads the host
    content = join("\n", [
      "NODE_INTERFACE='${var.node_interface}'",
      "TARGET_ADDRESS='${target.address}'",
      file("templates/facts.sh"),
    ])
  }

  output "ip" {
    value = jsondecode(step.detect.stdout).ip
  }
  output "iface" {
    value = jsondecode(step.detect.stdout).iface
  }
  output "node_name" {
    value = jsondecode(step.detect.stdout).node_name
  }
  output "hostname" {
    value = jsondecode(step.detect.stdout).hostname
  }
  output "os_family" {
    value = jsondecode(step.detect.stdout).os_family
  }
  output "os_major" {
    value = jsondecode(step.detect.stdout).os_major
  }
  output "cgroup" {
    value = jsondecode(step.detect.stdout).cgroup
  }
  output "conntrack_writable" {
    value = jsondecode(step.detect.stdout).conntrack_writable
  }
}

# Packages, swap, SELinux, firewalld, cgroup v2. Every step is guarded, so a host that is
# already prepared (the lab's hosts have every package and no network) is not touched.
task "os_prep" {
  on   = local.all_hosts
  sudo = true

  run "packages_dnf" {
    when = task.facts.output.os_family == "rhel"
    # only what no installed package provides (OL9's curl-minimal provides curl, and
    # installing curl next to it would conflict)
    command = "missing=''; for p in ${join(" ", var.packages_dnf)}; do rpm -q --whatprovides \"$p\" >/dev/null 2>&1 || missing=\"$missing $p\"; done; dnf install -y $missing"
    unless  = "rpm -q --whatprovides ${join(" ", var.packages_dnf)} >/dev/null 2>&1"
  }

  run "packages_apt" {
    when    = task.facts.output.os_family == "debian"
    command = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${join(" ", var.packages_apt)}"
    unless  = "test \"$(dpkg-query -W -f='$${db:Status-Abbrev}\\n' ${join(" ", var.packages_apt)} 2>/dev/null | grep -c '^ii')\" -eq ${length(var.packages_apt)}"
  }

  # The kubelet refuses to start with swap on (failSwapOn). Oracle's Vagrant boxes ship a
  # 4 GiB swap partition.
  run "swap_off" {
    command = "swapoff -a && sed -i -E 's/^([^#].*[[:space:]]swap[[:space:]].*)$/#\\1/' /etc/fstab"
    unless  = "test -z \"$(swapon --noheadings --show 2>/dev/null)\" && ! grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab"
  }

  # SELinux: permissive as in the seed, unless selinux_mode = "enforcing" (then containerd
  # runs with enable_selinux and container-selinux labels the containers).
  run "selinux_permissive" {
    when    = task.facts.output.os_family == "rhel" && var.selinux_mode == "permissive"
    command = "setenforce 0 && sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' /etc/selinux/config"
    unless  = "! command -v getenforce >/dev/null || test \"$(getenforce)\" != Enforcing"
  }

  run "firewalld_disable" {
    when    = task.facts.output.os_family == "rhel" && var.firewalld == "disable"
    command = "systemctl disable --now firewalld"
    unless  = "! systemctl is-enabled -q firewalld 2>/dev/null && ! systemctl is-active -q firewalld"
  }

  # Or keep firewalld and open what the cluster uses (ports-and-protocols.md), plus
  # flannel's VXLAN port, and trust the pod network.
  run "firewalld_open" {
    when = task.facts.output.os_family == "rhel" && var.firewalld == "open"
    command = join(" && ", [
      "firewall-cmd --permanent --add-port=6443/tcp --add-port=2379-2380/tcp --add-port=10250/tcp --add-port=10256/tcp --add-port=10257/tcp --add-port=10259/tcp --add-port=30000-32767/tcp --add-port=8472/udp --add-port=53/udp --add-port=53/tcp",
      "firewall-cmd --permanent --zone=trusted --add-source=${var.pod_cidr}",
      "firewall-cmd --permanent --add-masquerade",
      "firewall-cmd --reload",
    ])
    unless = "! systemctl is-active -q firewalld || firewall-cmd --query-port=8472/udp"
  }

  # Kubernetes 1.35+ refuses cgroup v1 by default. Oracle Linux 8 boots cgroup v1: switch the
  # kernel command line to the unified hierarchy and reboot; the plan waits for the host.
  run "cgroup_v2" {
    when    = task.facts.output.os_family == "rhel" && var.cgroup_v2_reboot
    command = "grubby --update-kernel=ALL --args=systemd.unified_cgroup_hierarchy=1"
    unless  = "test \"$(stat -fc %T /sys/fs/cgroup)\" = cgroup2fs"
  }

  reboot "cgroup_v2_reboot" {
    when    = task.facts.output.os_family == "rhel" && var.cgroup_v2_reboot && task.facts.output.cgroup != "cgroup2fs"
    timeout = "10m"
  }

  run "cgroup_v2_check" {
    when    = task.facts.output.os_family == "rhel" && var.cgroup_v2_reboot
    unless  = "test \"$(stat -fc %T /sys/fs/cgroup)\" = cgroup2fs"
    command = "test \"$(stat -fc %T /sys/fs/cgroup)\" = cgroup2fs || { echo 'still on cgroup v1 after the reboot' >&2; exit 1; }"
  }
}

# Seed step 1: br_netfilter and overlay, bridge netfilter and IP forwarding.
task "kernel" {
  on         = local.all_hosts
  sudo       = true
  depends_on = [task.os_prep]

  file "modules" {
    destination = "/etc/modules-load.d/k8s.conf"
    content     = "br_netfilter\noverlay\n"
    mode        = "0644"
  }

  # Hosts whose kernel has them built in (containers, some cloud kernels) have nothing to load.
  run "br_netfilter" {
    command = "modprobe br_netfilter"
    unless  = "test -d /proc/sys/net/bridge"
  }

  run "overlay" {
    command = "modprobe overlay"
    unless  = "grep -qw overlay /proc/filesystems"
  }

  file "sysctl" {
    destination = "/etc/sysctl.d/99-kubernetes.conf"
    content     = <<-EOT
      net.bridge.bridge-nf-call-iptables = 1
      net.bridge.bridge-nf-call-ip6tables = 1
      net.ipv4.ip_forward = 1
    EOT
    mode        = "0644"
  }

  run "sysctl_apply" {
    command = "sysctl -p /etc/sysctl.d/99-kubernetes.conf"
    unless  = "test \"$(cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables 2>/dev/null | tr -d '\\n')\" = 111"
  }
}
