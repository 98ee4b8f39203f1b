# Binaries (seed step 3 and the binary half of steps 5 and 8). hyperkube is gone:
# one binary per component. Offline (artifacts_dir set) every file is pushed from the
# artifacts directory; otherwise each node downloads it and checks its sha256.

locals {
  control_plane_bins = ["kube-controller-manager", "kube-scheduler", "kubectl"]
  node_bins          = ["kubelet", "kube-proxy"]
  checksum_lines     = join("\n", [for f, sum in var.checksums : "${f} ${sum}"])
  installed          = "/var/lib/scratch/installed"
}

# etcd's binaries are a task of their own: etcd starts as soon as they are in place,
# while the (much bigger) Kubernetes control-plane binaries are still being pushed.
task "etcd_binaries" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.kernel]

  file "etcd" {
    when        = local.offline
    source      = "${local.etcd_dir}/etcd"
    destination = "/usr/local/bin/etcd"
    mode        = "0755"
  }
  file "etcdctl" {
    when        = local.offline
    source      = "${local.etcd_dir}/etcdctl"
    destination = "/usr/local/bin/etcdctl"
    mode        = "0755"
  }

  script "download_etcd" {
    when    = !local.offline
    creates = "${local.installed}/etcd-${var.etcd_version}"
    content = join("\n", [
      "COMPONENT=etcd VERSION='${var.etcd_version}' ARCH='${var.arch}' BINS=''",
      "CHECKSUMS='${local.checksum_lines}'",
      "MIRROR='${var.download_mirror}'",
      "MARKER='${local.installed}/etcd-${var.etcd_version}'",
      file("templates/download.sh"),
    ])
  }

  # SELinux on (enforcing or permissive): what was pushed or made here gets the labels the
  # policy and container-selinux give these paths, not the one inherited from its directory
  # (bin_t for containerd and runc, var_lib_t for the state directories). Type only (no -F):
  # the MCS categories of anything already running stay as they are.
  run "selinux_labels" {
    when    = contains(["enforcing", "permissive"], task.facts.output.selinux)
    command = "restorecon /usr/local/bin/etcd /usr/local/bin/etcdctl"
    unless  = "test -z \"$(restorecon -n -v /usr/local/bin/etcd /usr/local/bin/etcdctl)\""
  }

  # The installed binary's digest: the etcd task restarts etcd when it changes (an upgrade,
  # a patched build), whatever the version variable says.
  run "digest" {
    command = "sha256sum /usr/local/bin/etcd | cut -c1-64"
    changed = false
  }
  output "etcd_sha256" {
    value = trimspace(step.digest.stdout)
  }
}

# kube-apiserver's binary is a task of its own too: the API server (whose start-up is the
# longest wait of the control plane) starts while the other binaries are being pushed.
task "apiserver_binary" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.kernel]

  # Nothing is replaced when the new version breaks the version-skew policy.
  script "version_skew" {
    changed = false
    content = join("\n", [
      "NEW='${var.kubernetes_version}'",
      "BINARY='/usr/local/bin/kube-apiserver'",
      file("templates/version-skew.sh"),
    ])
  }

  # offline: push from the artifacts directory (a file whose sha256 already matches is skipped)
  file "kube_apiserver" {
    when        = local.offline
    source      = "${local.k8s_dir}/kube-apiserver"
    destination = "/usr/local/bin/kube-apiserver"
    mode        = "0755"
  }

  # online: download on the node
  script "download_kubernetes" {
    when    = !local.offline
    creates = "${local.installed}/kubernetes-apiserver-${var.kubernetes_version}"
    content = join("\n", [
      "COMPONENT=kubernetes VERSION='${var.kubernetes_version}' ARCH='${var.arch}'",
      "BINS='kube-apiserver'",
      "CHECKSUMS='${local.checksum_lines}'",
      "MIRROR='${var.download_mirror}'",
      "MARKER='${local.installed}/kubernetes-apiserver-${var.kubernetes_version}'",
      file("templates/download.sh"),
    ])
  }

  # SELinux on (enforcing or permissive): what was pushed or made here gets the labels the
  # policy and container-selinux give these paths, not the one inherited from its directory
  # (bin_t for containerd and runc, var_lib_t for the state directories). Type only (no -F):
  # the MCS categories of anything already running stay as they are.
  run "selinux_labels" {
    when    = contains(["enforcing", "permissive"], task.facts.output.selinux)
    command = "restorecon /usr/local/bin/kube-apiserver"
    unless  = "test -z \"$(restorecon -n -v /usr/local/bin/kube-apiserver)\""
  }

  # The installed binaries' digests, for the tasks that run them (see etcd_binaries).
  run "digest" {
    command = "sha256sum /usr/local/bin/kube-apiserver | cut -c1-64"
    changed = false
  }
  output "kube_apiserver_sha256" {
    value = try(split("\n", trimspace(step.digest.stdout))[0], "")
  }
}

task "control_plane_binaries" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.kernel]

  # offline: push from the artifacts directory (a file whose sha256 already matches is skipped)
  file "kube_controller_manager" {
    when        = local.offline
    source      = "${local.k8s_dir}/kube-controller-manager"
    destination = "/usr/local/bin/kube-controller-manager"
    mode        = "0755"
  }
  file "kube_scheduler" {
    when        = local.offline
    source      = "${local.k8s_dir}/kube-scheduler"
    destination = "/usr/local/bin/kube-scheduler"
    mode        = "0755"
  }
  file "kubectl" {
    when        = local.offline
    source      = "${local.k8s_dir}/kubectl"
    destination = "/usr/local/bin/kubectl"
    mode        = "0755"
  }

  # online: download on the node
  script "download_kubernetes" {
    when    = !local.offline
    creates = "${local.installed}/kubernetes-control-plane-${var.kubernetes_version}"
    content = join("\n", [
      "COMPONENT=kubernetes VERSION='${var.kubernetes_version}' ARCH='${var.arch}'",
      "BINS='${join(" ", local.control_plane_bins)}'",
      "CHECKSUMS='${local.checksum_lines}'",
      "MIRROR='${var.download_mirror}'",
      "MARKER='${local.installed}/kubernetes-control-plane-${var.kubernetes_version}'",
      file("templates/download.sh"),
    ])
  }

  # SELinux on (enforcing or permissive): what was pushed or made here gets the labels the
  # policy and container-selinux give these paths, not the one inherited from its directory
  # (bin_t for containerd and runc, var_lib_t for the state directories). Type only (no -F):
  # the MCS categories of anything already running stay as they are.
  run "selinux_labels" {
    when    = contains(["enforcing", "permissive"], task.facts.output.selinux)
    command = "restorecon ${join(" ", [for b in local.control_plane_bins : "/usr/local/bin/${b}"])}"
    unless  = "test -z \"$(restorecon -n -v ${join(" ", [for b in local.control_plane_bins : "/usr/local/bin/${b}"])})\""
  }

  # The installed binaries' digests, for the tasks that run them (see etcd_binaries).
  run "digest" {
    command = "sha256sum /usr/local/bin/kube-controller-manager /usr/local/bin/kube-scheduler | cut -c1-64"
    changed = false
  }
  output "kube_controller_manager_sha256" {
    value = try(split("\n", trimspace(step.digest.stdout))[0], "")
  }
  output "kube_scheduler_sha256" {
    value = try(split("\n", trimspace(step.digest.stdout))[1], "")
  }
}

task "node_binaries" {
  on         = local.all_hosts
  sudo       = true
  depends_on = [task.kernel]

  # Nothing is replaced when the new version breaks the version-skew policy.
  script "version_skew" {
    changed = false
    content = join("\n", [
      "NEW='${var.kubernetes_version}'",
      "BINARY='/usr/local/bin/kubelet'",
      file("templates/version-skew.sh"),
    ])
  }

  run "dirs" {
    command = "mkdir -p /usr/local/bin /usr/local/sbin /opt/cni/bin"
    unless  = "test -d /usr/local/sbin && test -d /opt/cni/bin"
  }

  file "kubelet" {
    when        = local.offline
    source      = "${local.k8s_dir}/kubelet"
    destination = "/usr/local/bin/kubelet"
    mode        = "0755"
  }
  file "kube_proxy" {
    when        = local.offline
    source      = "${local.k8s_dir}/kube-proxy"
    destination = "/usr/local/bin/kube-proxy"
    mode        = "0755"
  }
  # kubectl on the nodes that are not masters (control_plane_binaries puts it there): a
  # node's rollout (node_upgrade) cordons and drains it from the node itself.
  file "kubectl" {
    when        = local.offline && !contains(local.master_names, target.name)
    source      = "${local.k8s_dir}/kubectl"
    destination = "/usr/local/bin/kubectl"
    mode        = "0755"
  }
  file "containerd" {
    when        = local.offline
    source      = "${local.containerd_dir}/containerd"
    destination = "/usr/local/bin/containerd"
    mode        = "0755"
  }
  file "containerd_shim" {
    when        = local.offline
    source      = "${local.containerd_dir}/containerd-shim-runc-v2"
    destination = "/usr/local/bin/containerd-shim-runc-v2"
    mode        = "0755"
  }
  file "ctr" {
    when        = local.offline
    source      = "${local.containerd_dir}/ctr"
    destination = "/usr/local/bin/ctr"
    mode        = "0755"
  }
  file "runc" {
    when        = local.offline
    source      = "${local.runc_dir}/runc"
    destination = "/usr/local/sbin/runc"
    mode        = "0755"
  }
  # CNI plugins, flannel's included (the flannel image carries only flanneld)
  file "cni_bridge" {
    when        = local.offline
    source      = "${local.cni_dir}/bridge"
    destination = "/opt/cni/bin/bridge"
    mode        = "0755"
  }
  file "cni_host_local" {
    when        = local.offline
    source      = "${local.cni_dir}/host-local"
    destination = "/opt/cni/bin/host-local"
    mode        = "0755"
  }
  file "cni_loopback" {
    when        = local.offline
    source      = "${local.cni_dir}/loopback"
    destination = "/opt/cni/bin/loopback"
    mode        = "0755"
  }
  file "cni_portmap" {
    when        = local.offline
    source      = "${local.cni_dir}/portmap"
    destination = "/opt/cni/bin/portmap"
    mode        = "0755"
  }
  file "cni_flannel" {
    when        = local.offline
    source      = "${local.cni_dir}/flannel"
    destination = "/opt/cni/bin/flannel"
    mode        = "0755"
  }

  script "download_kubernetes" {
    when    = !local.offline
    creates = "${local.installed}/kubernetes-node-${var.kubernetes_version}"
    content = join("\n", [
      "COMPONENT=kubernetes VERSION='${var.kubernetes_version}' ARCH='${var.arch}'",
      "BINS='${join(" ", local.node_bins)}'",
      "CHECKSUMS='${local.checksum_lines}'",
      "MIRROR='${var.download_mirror}'",
      "MARKER='${local.installed}/kubernetes-node-${var.kubernetes_version}'",
      file("templates/download.sh"),
    ])
  }
  script "download_kubectl" {
    when    = !local.offline && !contains(local.master_names, target.name)
    creates = "${local.installed}/kubernetes-kubectl-${var.kubernetes_version}"
    content = join("\n", [
      "COMPONENT=kubernetes VERSION='${var.kubernetes_version}' ARCH='${var.arch}'",
      "BINS='kubectl'",
      "CHECKSUMS='${local.checksum_lines}'",
      "MIRROR='${var.download_mirror}'",
      "MARKER='${local.installed}/kubernetes-kubectl-${var.kubernetes_version}'",
      file("templates/download.sh"),
    ])
  }
  script "download_containerd" {
    when    = !local.offline
    creates = "${local.installed}/containerd-${var.containerd_version}"
    content = join("\n", [
      "COMPONENT=containerd VERSION='${var.containerd_version}' ARCH='${var.arch}' BINS=''",
      "CHECKSUMS='${local.checksum_lines}'",
      "MIRROR='${var.download_mirror}'",
      "MARKER='${local.installed}/containerd-${var.containerd_version}'",
      file("templates/download.sh"),
    ])
  }
  script "download_runc" {
    when    = !local.offline
    creates = "${local.installed}/runc-${var.runc_version}"
    content = join("\n", [
      "COMPONENT=runc VERSION='${var.runc_version}' ARCH='${var.arch}' BINS=''",
      "CHECKSUMS='${local.checksum_lines}'",
      "MIRROR='${var.download_mirror}'",
      "MARKER='${local.installed}/runc-${var.runc_version}'",
      file("templates/download.sh"),
    ])
  }
  script "download_cni_plugins" {
    when    = !local.offline
    creates = "${local.installed}/cni-plugins-${var.cni_plugins_version}"
    content = join("\n", [
      "COMPONENT=cni-plugins VERSION='${var.cni_plugins_version}' ARCH='${var.arch}' BINS=''",
      "CHECKSUMS='${local.checksum_lines}'",
      "MIRROR='${var.download_mirror}'",
      "MARKER='${local.installed}/cni-plugins-${var.cni_plugins_version}'",
      file("templates/download.sh"),
    ])
  }
  script "download_flannel_cni_plugin" {
    when    = !local.offline
    creates = "${local.installed}/flannel-cni-plugin-${var.flannel_cni_plugin_version}"
    content = join("\n", [
      "COMPONENT=flannel-cni-plugin VERSION='${var.flannel_cni_plugin_version}' ARCH='${var.arch}' BINS=''",
      "CHECKSUMS='${local.checksum_lines}'",
      "MIRROR='${var.download_mirror}'",
      "MARKER='${local.installed}/flannel-cni-plugin-${var.flannel_cni_plugin_version}'",
      file("templates/download.sh"),
    ])
  }

  # SELinux on (enforcing or permissive): what was pushed or made here gets the labels the
  # policy and container-selinux give these paths, not the one inherited from its directory
  # (bin_t for containerd and runc, var_lib_t for the state directories). Type only (no -F):
  # the MCS categories of anything already running stay as they are.
  run "selinux_labels" {
    when    = contains(["enforcing", "permissive"], task.facts.output.selinux)
    command = "restorecon -R /usr/local/bin /usr/local/sbin /opt/cni/bin"
    unless  = "test -z \"$(restorecon -R -n -v /usr/local/bin /usr/local/sbin /opt/cni/bin)\""
  }

  # The installed binaries' digests, for the containerd, kubelet and kube_proxy tasks (see
  # etcd_binaries).
  run "digest" {
    command = "sha256sum /usr/local/bin/containerd /usr/local/bin/kubelet /usr/local/bin/kube-proxy | cut -c1-64"
    changed = false
  }
  output "containerd_sha256" {
    value = try(split("\n", trimspace(step.digest.stdout))[0], "")
  }
  output "kubelet_sha256" {
    value = try(split("\n", trimspace(step.digest.stdout))[1], "")
  }
  output "kube_proxy_sha256" {
    value = try(split("\n", trimspace(step.digest.stdout))[2], "")
  }
  # The three together, as the node records them once it runs them (node_upgrade).
  output "node_digest" {
    value = substr(sha256(trimspace(step.digest.stdout)), 0, 16)
  }

  # Which of containerd, kubelet and kube-proxy now run a binary other than the installed one
  # (after the push): node_upgrade drains the node and restarts them.
  run "stale" {
    command = "for u in containerd kubelet kube-proxy; do ${format(local.runs_installed, "$u", "/usr/local/bin/$u")} || echo $u; done"
    changed = false
  }
  output "stale" {
    value = join(" ", compact(split("\n", trimspace(step.stale.stdout))))
  }
}
