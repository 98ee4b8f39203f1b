# Every node, masters included (the seed's master also runs kubelet): containerd
# with runc and the systemd cgroup driver (the seed's Docker is gone since 1.24), the CNI
# configuration, the kubelet joining by TLS bootstrapping, kube-proxy (seed steps 8, 9.1).
# These tasks start the three and restart them for a new configuration; a new binary is
# rolled out by node_upgrade (85-node-upgrade.hcl), the node drained around the restart.

task "containerd" {
  on         = local.all_hosts
  sudo       = true
  depends_on = [task.node_binaries, task.kernel, task.network_manager, task.firewall]

  run "dirs" {
    command = "mkdir -p /etc/containerd /etc/cni/net.d /var/lib/scratch/images /var/lib/containerd"
    unless  = "test -d /etc/containerd && test -d /etc/cni/net.d && test -d /var/lib/scratch/images && test -d /var/lib/containerd"
  }

  # SELinux on (enforcing or permissive): what was pushed or made here gets the labels the
  # policy and container-selinux give these paths, not the one inherited from its directory
  # (bin_t for containerd and runc, var_lib_t for the state directories). Type only (no -F):
  # the MCS categories of anything already running stay as they are.
  run "selinux_labels" {
    when    = contains(["enforcing", "permissive"], task.facts.output.selinux)
    command = "restorecon -R /etc/containerd /etc/cni /var/lib/scratch && restorecon /var/lib/containerd"
    unless  = "test -z \"$(restorecon -R -n -v /etc/containerd /etc/cni /var/lib/scratch; restorecon -n -v /var/lib/containerd)\""
  }

  file "config" {
    destination = "/etc/containerd/config.toml"
    content = templatefile("templates/containerd-config.toml", {
      pause_image            = local.pause_image
      enable_selinux         = task.facts.output.os_family == "rhel" && var.selinux_mode == "enforcing"
      restrict_oom_score_adj = var.containerd_restrict_oom_score_adj
    })
    mode = "0644"
  }

  file "unit" {
    destination = "/etc/systemd/system/containerd.service"
    content     = file("templates/containerd.service")
    mode        = "0644"
  }

  # flannel's CNI configuration, written here because the flannel image carries only flanneld
  file "cni_conf" {
    destination = "/etc/cni/net.d/10-flannel.conflist"
    content     = file("templates/10-flannel.conflist")
    mode        = "0644"
  }

  run "restart" {
    when    = step.config.changed || step.unit.changed
    command = "systemctl daemon-reload && systemctl enable containerd && systemctl restart containerd"
  }
  run "start" {
    command = "systemctl enable --now containerd"
    unless  = "systemctl is-active -q containerd"
  }
  script "wait_ready" {
    unless = "/usr/local/bin/ctr version >/dev/null 2>&1"
    content = templatefile("templates/wait.sh", {
      what     = "containerd to answer on its socket"
      timeout  = 30
      interval = 1
      probe    = "/usr/local/bin/ctr version"
      diagnose = "journalctl -u containerd --no-pager -n 20"
      ready    = "containerd ready"
    })
  }

  # Offline: the images the cluster runs, tagged with the names the manifests use, imported
  # into the k8s.io namespace the CRI sees. Online, containerd pulls them.
  file "image_pause" {
    when        = local.offline
    source      = "${local.images_dir}/pause-${var.pause_version}.tar"
    destination = "/var/lib/scratch/images/pause-${var.pause_version}.tar"
    mode        = "0644"
  }
  run "import_pause" {
    when    = local.offline
    command = "/usr/local/bin/ctr -n k8s.io images import --platform linux/${var.arch} /var/lib/scratch/images/pause-${var.pause_version}.tar"
    unless  = "/usr/local/bin/ctr -n k8s.io images ls -q | grep -qxF '${local.pause_image}'"
  }
  file "image_flannel" {
    when        = local.offline
    source      = "${local.images_dir}/flannel-${var.flannel_version}.tar"
    destination = "/var/lib/scratch/images/flannel-${var.flannel_version}.tar"
    mode        = "0644"
  }
  run "import_flannel" {
    when    = local.offline
    command = "/usr/local/bin/ctr -n k8s.io images import --platform linux/${var.arch} /var/lib/scratch/images/flannel-${var.flannel_version}.tar"
    unless  = "/usr/local/bin/ctr -n k8s.io images ls -q | grep -qxF '${local.flannel_image}'"
  }
  file "image_coredns" {
    when        = local.offline
    source      = "${local.images_dir}/coredns-${var.coredns_version}.tar"
    destination = "/var/lib/scratch/images/coredns-${var.coredns_version}.tar"
    mode        = "0644"
  }
  run "import_coredns" {
    when    = local.offline
    command = "/usr/local/bin/ctr -n k8s.io images import --platform linux/${var.arch} /var/lib/scratch/images/coredns-${var.coredns_version}.tar"
    unless  = "/usr/local/bin/ctr -n k8s.io images ls -q | grep -qxF '${local.coredns_image}'"
  }
}

locals {
  kubelet_joined = "test -s /etc/kubernetes/kubelet.kubeconfig && test -s /var/lib/kubelet/pki/kubelet-client-current.pem"
}

task "kubelet" {
  on         = local.all_hosts
  sudo       = true
  depends_on = [task.containerd, task.node_kubeconfigs, task.kube_apiserver, task.api_lb]

  run "dirs" {
    command = "mkdir -p /var/lib/kubelet/pki /etc/kubernetes/manifests"
    unless  = "test -d /var/lib/kubelet/pki && test -d /etc/kubernetes/manifests"
  }

  # SELinux on (enforcing or permissive): what was pushed or made here gets the labels the
  # policy and container-selinux give these paths, not the one inherited from its directory
  # (bin_t for containerd and runc, var_lib_t for the state directories). Type only (no -F):
  # the MCS categories of anything already running stay as they are.
  run "selinux_labels" {
    when    = contains(["enforcing", "permissive"], task.facts.output.selinux)
    command = "restorecon /var/lib/kubelet && restorecon -R /var/lib/kubelet/pki /etc/kubernetes/manifests"
    unless  = "test -z \"$(restorecon -n -v /var/lib/kubelet; restorecon -R -n -v /var/lib/kubelet/pki /etc/kubernetes/manifests)\""
  }

  # Everything the seed passed as flags, in a KubeletConfiguration: anonymous auth off,
  # webhook authentication and authorization, client CA, certificate rotation, TLS 1.2
  # with the ECDHE-GCM suites, cluster DNS.
  file "config" {
    destination = "/var/lib/kubelet/config.yaml"
    content = templatefile("templates/kubelet-config.yaml", {
      cluster_dns          = local.dns_service_ip
      cluster_domain       = var.cluster_domain
      resolv_conf          = var.kubelet_resolv_conf
      server_tls_bootstrap = var.kubelet_server_tls_bootstrap
      cipher_suites        = local.tls_cipher_suites
      fail_cgroup_v1       = var.kubelet_fail_cgroup_v1
      taints               = var.taint_masters && contains([for m in group.masters.hosts : m.name], target.name) ? [{ key = "node-role.kubernetes.io/control-plane", effect = "NoSchedule" }] : []
      extra                = var.kubelet_extra_config
      protect_kernel_defaults = var.kubelet_protect_kernel_defaults
    })
    mode = "0600" # CIS 4.1.9
  }

  file "unit" {
    destination = "/etc/systemd/system/kubelet.service"
    content = templatefile("templates/kubelet.service", {
      node_ip   = task.facts.output.ip
      node_name = task.facts.output.node_name
    })
    mode = "0600" # CIS 4.1.1
  }

  # The kubelet copied the API server's URL from the bootstrap kubeconfig when it joined; a
  # node whose way to the API changed since (api_lb, api_endpoint) gets it rewritten.
  run "api_server" {
    command = "sed -i -E 's#^( *server: ).*$#\\1${task.node_kubeconfigs.output.api_server}#' /etc/kubernetes/kubelet.kubeconfig"
    unless  = "! test -s /etc/kubernetes/kubelet.kubeconfig || grep -qE '^ *server: ${task.node_kubeconfigs.output.api_server}$' /etc/kubernetes/kubelet.kubeconfig"
  }

  run "restart" {
    when    = step.config.changed || step.unit.changed || step.api_server.changed
    command = "systemctl daemon-reload && systemctl enable kubelet && systemctl restart kubelet"
  }
  run "start" {
    command = "systemctl enable --now kubelet"
    unless  = "systemctl is-active -q kubelet"
  }

  # The kubelet joined once its client certificate was issued (the CSR approved through
  # the auto-approval binding) and it wrote its kubeconfig.
  script "wait_joined" {
    unless = local.kubelet_joined
    content = templatefile("templates/wait.sh", {
      what     = "the kubelet's client certificate (its bootstrap CSR approved?)"
      timeout  = 180
      interval = 1 # poll often: every wait here is on the critical path
      probe    = "${local.kubelet_joined} || { echo 'no kubelet.kubeconfig or client certificate yet'; return 1; }"
      diagnose = "journalctl -u kubelet --no-pager -n 20"
      ready    = "kubelet joined"
    })
  }
}

task "kube_proxy" {
  on         = local.all_hosts
  sudo       = true
  depends_on = [task.node_kubeconfigs, task.node_binaries, task.firewall, task.api_lb]

  run "dirs" {
    command = "mkdir -p /var/lib/kube-proxy"
    unless  = "test -d /var/lib/kube-proxy"
  }

  file "config" {
    destination = "/var/lib/kube-proxy/config.yaml"
    content = templatefile("templates/kube-proxy-config.yaml", {
      mode                   = var.kube_proxy_mode
      pod_cidr               = var.pod_cidr
      node_name              = task.facts.output.node_name
      conntrack_max_per_core = var.kube_proxy_conntrack_max_per_core >= 0 ? var.kube_proxy_conntrack_max_per_core : (task.facts.output.conntrack_writable ? 32768 : 0)
    })
    mode = "0644"
  }

  file "unit" {
    destination = "/etc/systemd/system/kube-proxy.service"
    content     = file("templates/kube-proxy.service")
    mode        = "0644"
  }

  # kube-proxy reads its kubeconfig (node_kubeconfigs) once: a new one (its way to the API
  # changed: api_lb, api_endpoint) means a restart. The copy records the one it runs with.
  run "kubeconfig" {
    command = "cp /etc/kubernetes/kube-proxy.kubeconfig /var/lib/kube-proxy/kubeconfig.applied"
    unless  = "cmp -s /etc/kubernetes/kube-proxy.kubeconfig /var/lib/kube-proxy/kubeconfig.applied"
  }

  # Its certificate likewise (a new key, or renewed: cert_renew_before_days); the copy records
  # the one it runs with.
  run "cert" {
    command = "cp /var/lib/kube-proxy/kube-proxy.crt /var/lib/kube-proxy/kube-proxy.crt.applied"
    unless  = "test \"$(sha256sum < /var/lib/kube-proxy/kube-proxy.crt | cut -c1-64)\" = ${task.node_kubeconfigs.output.kube_proxy_crt_sha256} && cmp -s /var/lib/kube-proxy/kube-proxy.crt /var/lib/kube-proxy/kube-proxy.crt.applied"
  }

  run "restart" {
    when    = step.config.changed || step.unit.changed || step.kubeconfig.changed || step.cert.changed
    command = "systemctl daemon-reload && systemctl enable kube-proxy && systemctl restart kube-proxy"
  }
  run "start" {
    command = "systemctl enable --now kube-proxy"
    unless  = "systemctl is-active -q kube-proxy"
  }

  # kube-proxy answers on its health port once it runs (it exits on a bad configuration)
  script "wait_running" {
    unless = "curl -s -o /dev/null --max-time 3 http://127.0.0.1:10256/healthz"
    content = templatefile("templates/wait.sh", {
      what     = "kube-proxy to answer on :10256"
      timeout  = 120
      interval = 1 # poll often: every wait here is on the critical path
      probe    = "curl -sS -o /dev/null --max-time 3 http://127.0.0.1:10256/healthz"
      diagnose = "journalctl -u kube-proxy --no-pager -n 20"
      ready    = "kube-proxy running"
    })
  }
}
