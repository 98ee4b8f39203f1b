# Facts about every host, then OS preparation (seed: "構成" and step 1).

# Which installation of the host this is: a random id the plan leaves in /var/lib/scratch, which
# scratch-reset and scratch-remove delete with everything else the plan made. It is read on every
# run (always_run); when it differs from what the run state holds (the host was reset, or
# reinstalled under the same name and address), facts and every task after them on that host run
# again instead of being taken for up to date (docs/execution.md, "Run state").
task "install_id" {
  on         = local.all_hosts
  sudo       = true
  always_run = true

  run "make" {
    creates = "/var/lib/scratch/install-id"
    command = "mkdir -p /var/lib/scratch && cat /proc/sys/kernel/random/uuid > /var/lib/scratch/install-id.tmp && mv -f /var/lib/scratch/install-id.tmp /var/lib/scratch/install-id"
  }
  run "read" {
    command = "cat /var/lib/scratch/install-id"
    changed = false
  }
  output "id" {
    value = trimspace(step.read.stdout)
  }
}

# What the plan needs to know about each host: its OS (OL7 is refused here, with the
# reason), the IPv4 address and interface the cluster uses, and the kubelet's node name.
task "facts" {
  on         = local.all_hosts
  sudo       = true # the conntrack probe needs root
  depends_on = [task.install_id]

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
  # dnf, apt or none
  output "pkg" {
    value = jsondecode(step.detect.stdout).pkg
  }
  # SELinux now (enforcing, permissive, disabled; absent without getenforce) and at the next
  # boot (SELINUX= of /etc/selinux/config, "" without it)
  output "selinux" {
    value = jsondecode(step.detect.stdout).selinux
  }
  output "selinux_config" {
    value = jsondecode(step.detect.stdout).selinux_config
  }
  # absent, or the unit's state (active, inactive, failed)
  output "firewalld" {
    value = jsondecode(step.detect.stdout).firewalld
  }
  output "network_manager" {
    value = jsondecode(step.detect.stdout).network_manager
  }
}

# Two nodes with one address make one broken cluster (certificates, etcd peers and flannel
# all key on it): typically VirtualBox's NAT address 10.0.2.15 on every Vagrant box when
# node_interface is not set. Refused before anything is changed.
task "addresses" {
  on = local.all_hosts

  run "unique" {
    changed = false
    command = (length([for h in local.all_hosts : h if task.facts[h.name].output.ip == task.facts.output.ip]) > 1
      ? "echo '${replace("${target.name} uses ${task.facts.output.ip} (interface ${task.facts.output.iface}), as do ${join(", ", [for h in local.all_hosts : h.name if h.name != target.name && task.facts[h.name].output.ip == task.facts.output.ip])}: every node needs its own address. Set node_interface to the interface of the cluster network (Vagrant: eth1), or give each host its own address.", "'", "'\\''")}' >&2; exit 1"
    : "echo ${task.facts.output.ip}: no other node has it")
  }
}

# Packages, swap, SELinux, firewalld, cgroup v2. Every step is guarded, so a host that is
# already prepared (the lab's hosts have every package and no network) is not touched.
task "os_prep" {
  on         = local.all_hosts
  sudo       = true
  depends_on = [task.addresses]

  run "packages_dnf" {
    when = task.facts.output.pkg == "dnf"
    # only what no installed package provides (OL9's curl-minimal provides curl, and
    # installing curl next to it would conflict)
    command = "missing=''; for p in ${join(" ", var.packages_dnf)}; do rpm -q --whatprovides \"$p\" >/dev/null 2>&1 || missing=\"$missing $p\"; done; dnf install -y $missing"
    unless  = "rpm -q --whatprovides ${join(" ", var.packages_dnf)} >/dev/null 2>&1"
  }

  run "packages_apt" {
    when    = task.facts.output.pkg == "apt"
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
  # runs with enable_selinux and container-selinux labels the containers). Both the running
  # mode and /etc/selinux/config, which the next boot reads, are checked.
  run "selinux_permissive" {
    when    = contains(["enforcing", "permissive"], task.facts.output.selinux) && var.selinux_mode == "permissive"
    command = "if [ \"$(getenforce)\" = Enforcing ]; then setenforce 0; fi; sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' /etc/selinux/config"
    unless  = "test \"$(getenforce)\" != Enforcing && ! grep -q '^SELINUX=enforcing' /etc/selinux/config"
  }

  # SELinux on: the file contexts containerd, runc and their state need (container-selinux
  # defines them on current Oracle Linux; added here where a policy lacks one), so that
  # restorecon after each push gives the right labels.
  script "selinux_fcontext" {
    when    = contains(["enforcing", "permissive"], task.facts.output.selinux)
    content = <<-EOT
      set -eu
      have=$(semanage fcontext -l)
      add() { printf '%s\n' "$have" | grep -qF -- "$2 " || semanage fcontext -a -t "$1" "$2"; }
      add container_runtime_exec_t '/usr/local/bin/containerd.*'
      add container_runtime_exec_t '/usr/local/s?bin/runc.*'
      add container_var_lib_t '/var/lib/containerd(/.*)?'
      add container_var_lib_t '/var/lib/kubelet(/.*)?'
    EOT
    unless  = "have=$(semanage fcontext -l) && for p in '/usr/local/bin/containerd.*' '/usr/local/s?bin/runc.*' '/var/lib/containerd(/.*)?' '/var/lib/kubelet(/.*)?'; do printf '%s\\n' \"$have\" | grep -qF -- \"$p \" || exit 1; done"
  }

  # firewalld, wherever it is installed: turned off when the user chose firewalld = "disable"
  # (the seed); with "open" (the default) the firewall task below opens what the cluster uses.
  run "firewalld_disable" {
    when    = task.facts.output.firewalld != "absent" && var.firewalld == "disable"
    command = "systemctl disable --now firewalld"
    unless  = "! systemctl is-enabled -q firewalld 2>/dev/null && ! systemctl is-active -q firewalld"
  }

  # Kubernetes 1.35+ refuses cgroup v1 by default. Oracle Linux 8 boots cgroup v1: switch the
  # kernel command line to the unified hierarchy and reboot; the plan waits for the host.
  run "cgroup_v2" {
    when    = task.facts.output.os_family == "rhel" && var.cgroup_v2_reboot && task.facts.output.cgroup != "cgroup2fs"
    command = "grubby --update-kernel=ALL --args=systemd.unified_cgroup_hierarchy=1"
    unless  = "test \"$(stat -fc %T /sys/fs/cgroup)\" = cgroup2fs"
  }

  reboot "cgroup_v2_reboot" {
    when    = task.facts.output.os_family == "rhel" && var.cgroup_v2_reboot && task.facts.output.cgroup != "cgroup2fs"
    timeout = "10m"
  }

  run "cgroup_v2_check" {
    when    = task.facts.output.os_family == "rhel" && var.cgroup_v2_reboot && task.facts.output.cgroup != "cgroup2fs"
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

  # The kernel settings the kubelet wants (container_manager_linux.go: setupKernelTunables).
  # With protectKernelDefaults (CIS 4.2.6) it refuses to start unless they are already so,
  # instead of setting them itself. Each is written only when it differs: a container host
  # (the lab) shadows the global ones with files that already hold these values, and its
  # kernel.keys entries cannot be written at all.
  file "kubelet_sysctl" {
    destination = "/etc/sysctl.d/90-kubelet.conf"
    content     = join("", [for k, v in local.kubelet_sysctls : "${k} = ${v}\n"])
    mode        = "0644"
  }

  script "kubelet_sysctl_apply" {
    content = join("\n", concat(["set -eu"], [for k, v in local.kubelet_sysctls :
      "[ \"$(cat /proc/sys/${replace(k, ".", "/")})\" = ${v} ] || sysctl -w ${k}=${v}"
    ]))
    unless = join(" && ", [for k, v in local.kubelet_sysctls : "test \"$(cat /proc/sys/${replace(k, ".", "/")})\" = ${v}"])
  }
}

# firewalld kept on (firewalld = "open", the default; Oracle Linux runs it out of the box):
# what the cluster needs, as two firewalld services in the zone of the node's interface
# (ports-and-protocols.md; controller-manager and scheduler listen on 127.0.0.1 only), and
# the pod and service networks as trusted sources, so pods reach the API server, DNS and
# each other across nodes. No masquerade: flannel and kube-proxy do their own. It runs while
# the binaries are pushed (firewall-cmd takes seconds); etcd, containerd (and so the kubelet)
# and kube-proxy wait for it.
task "firewall" {
  on         = local.all_hosts
  sudo       = true
  depends_on = [task.os_prep]
  when       = var.firewalld == "open"

  file "node_service" {
    when        = task.facts.output.firewalld == "active"
    destination = "/etc/firewalld/services/k8s-node.xml"
    content     = templatefile("templates/firewalld-service.xml", {
      short       = "Kubernetes node"
      description = "kubelet API, kube-proxy health, NodePort Services, flannel VXLAN"
      ports       = ["10250/tcp", "10256/tcp", "30000-32767/tcp", "30000-32767/udp", "8472/udp"]
    })
    mode = "0644"
  }
  file "control_plane_service" {
    when        = task.facts.output.firewalld == "active" && contains(local.master_names, target.name)
    destination = "/etc/firewalld/services/k8s-control-plane.xml"
    content     = templatefile("templates/firewalld-service.xml", {
      short       = "Kubernetes control plane"
      description = "kube-apiserver, etcd clients and peers"
      ports       = ["6443/tcp", "2379-2380/tcp"]
    })
    mode = "0644"
  }
  # firewalld reads new service files on reload, before a zone can name them
  run "reload_services" {
    when    = task.facts.output.firewalld == "active" && (step.node_service.changed || step.control_plane_service.changed)
    command = "firewall-cmd --reload"
  }
  # in the zone of the node's interface, else the default zone; permanent and running
  run "open" {
    when    = task.facts.output.firewalld == "active"
    command = <<-EOT
      ${format(local.firewalld_zone_of, task.facts.output.iface)}
      services='${join(" ", local.firewalld_services[target.name])}'
      for s in $services; do
        firewall-cmd --permanent --zone="$z" --add-service="$s"
      done
      firewall-cmd --permanent --zone=trusted --add-source=${var.pod_cidr} --add-source=${var.service_cidr}
      firewall-cmd --reload
    EOT
    unless  = <<-EOT
      ${format(local.firewalld_zone_of, task.facts.output.iface)}
      has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }
      ps=$(firewall-cmd --permanent --zone="$z" --list-services) && rs=$(firewall-cmd --zone="$z" --list-services) || exit 1
      services='${join(" ", local.firewalld_services[target.name])}'
      for s in $services; do has "$ps" "$s" && has "$rs" "$s" || exit 1; done
      ps=$(firewall-cmd --permanent --zone=trusted --list-sources) && rs=$(firewall-cmd --zone=trusted --list-sources) || exit 1
      for c in ${var.pod_cidr} ${var.service_cidr}; do has "$ps" "$c" && has "$rs" "$c" || exit 1; done
    EOT
  }

}

locals {
  # what the kubelet checks with protectKernelDefaults, and sets itself without it
  kubelet_sysctls = {
    "vm.overcommit_memory"      = 1
    "vm.panic_on_oom"           = 0
    "kernel.panic"              = 10
    "kernel.panic_on_oops"      = 1
    "kernel.keys.root_maxkeys"  = 1000000
    "kernel.keys.root_maxbytes" = 25000000
  }
  master_names = [for m in group.masters.hosts : m.name]
  # the firewalld services each node needs
  firewalld_services = { for h in local.all_hosts : h.name => contains(local.master_names, h.name) ? ["k8s-node", "k8s-control-plane"] : ["k8s-node"] }
  # sets $z to the zone of the interface given to format, else the default zone
  firewalld_zone_of = "z=$(firewall-cmd --get-zone-of-interface=%s 2>/dev/null) || z=$(firewall-cmd --get-default-zone)"
}

# NetworkManager (on by default on Oracle Linux) must leave the interfaces of the pod
# network alone: left to it, it takes cni0 and flannel.1 as its own and may drop their
# addresses or routes (a known failure of flannel clusters on RHEL). containerd waits for it,
# so it is in place before the first of those interfaces exists.
task "network_manager" {
  on         = local.all_hosts
  sudo       = true
  depends_on = [task.os_prep]

  file "unmanaged" {
    when        = task.facts.output.network_manager == "active"
    destination = "/etc/NetworkManager/conf.d/90-kubernetes-cni.conf"
    content     = <<-EOT
      # plan scratch: the pod network's interfaces are flannel's and the CNI plugins'.
      [keyfile]
      unmanaged-devices=interface-name:cni0;interface-name:flannel.*;interface-name:veth*
    EOT
    mode        = "0644"
  }
  run "reload" {
    when    = task.facts.output.network_manager == "active" && step.unmanaged.changed
    command = "nmcli general reload conf"
  }
}
