# Kube-apiserver, kube-controller-manager and kube-scheduler (seed step 6) on
# every master, as the kubernetes user.

locals {
  # /readyz with the admin certificate (anonymous requests are refused).
  apiserver_ready = "curl -fsS --max-time 5 --cacert /etc/kubernetes/pki/ca.crt --cert /etc/kubernetes/pki/admin.crt --key /etc/kubernetes/pki/admin.key https://127.0.0.1:6443/readyz"
}

# One API server at a time (serial = 1): one restarted for a new binary or configuration is
# ready again (wait_ready) before the next one stops.
task "kube_apiserver" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.etcd, task.kubeconfigs, task.apiserver_binary]
  serial     = 1

  run "log_dir" {
    command = "install -d -o kube-apiserver -g kube-apiserver -m 0700 /var/log/kubernetes"
    unless  = "test \"$(stat -c %U:%a /var/log/kubernetes 2>/dev/null)\" = kube-apiserver:700"
  }

  file "audit_policy" {
    destination = "/etc/kubernetes/audit-policy.yaml"
    content     = file("templates/audit-policy.yaml")
    mode        = "0644"
  }

  # Pod Security admission by default (enforce baseline, warn and audit restricted), the
  # cluster's own add-on namespaces exempt
  file "admission_config" {
    destination = "/etc/kubernetes/admission-config.yaml"
    content = templatefile("templates/admission-config.yaml", {
      enforce           = var.pod_security_enforce
      warn              = var.pod_security_warn
      audit             = var.pod_security_audit
      exempt_namespaces = var.pod_security_exempt_namespaces
    })
    mode = "0644"
  }

  file "unit" {
    destination = "/etc/systemd/system/kube-apiserver.service"
    content = templatefile("templates/kube-apiserver.service", {
      ip             = task.facts.output.ip
      etcd_servers   = "https://127.0.0.1:2379" # its own member, as kubeadm's stacked etcd
      service_cidr   = var.service_cidr
      cluster_domain = var.cluster_domain
      cipher_suites  = join(",", local.tls_cipher_suites)
      kubelet_ca     = var.kubelet_server_tls_bootstrap
    })
    mode = "0600"
  }

  # Started when not running; restarted when its configuration or its certificates changed
  # (renewed) since it last started, one master at a time behind a health gate
  # (templates/rolling-restart.sh).
  script "rollout" {
    unless = "systemctl is-active -q kube-apiserver && test \"$(cat /etc/systemd/system/kube-apiserver.service /etc/kubernetes/audit-policy.yaml /etc/kubernetes/admission-config.yaml ${local.kube_apiserver_certs} | sha256sum | cut -c1-64)\" = \"$(cat /var/lib/scratch/applied/kube-apiserver 2>/dev/null)\""
    content = join("\n", [
      "# this master's certificates (server_certs): ${task.server_certs.output.certs_digest}",
      "UNIT=kube-apiserver",
      "FILES='/etc/systemd/system/kube-apiserver.service /etc/kubernetes/audit-policy.yaml /etc/kubernetes/admission-config.yaml ${local.kube_apiserver_certs}'",
      "OTHERS='${join(" ", [for m in group.masters.hosts : task.facts[m.name].output.ip if m.name != target.name])}'",
      "TIMEOUT=180",
      file("templates/rolling-restart.sh"),
    ])
  }
  # A new binary (its digest is an input of this task): restart when the running process is
  # not the installed file.
  run "restart_new_binary" {
    when    = task.apiserver_binary.output.kube_apiserver_sha256 != ""
    command = "systemctl restart kube-apiserver"
    unless  = format(local.runs_installed, "kube-apiserver", "/usr/local/bin/kube-apiserver")
  }

  script "wait_ready" {
    unless = "${local.apiserver_ready} >/dev/null 2>&1"
    content = templatefile("templates/wait.sh", {
      what     = "kube-apiserver to be ready (/readyz)"
      timeout  = 180
      interval = 1 # poll often: every wait here is on the critical path
      probe    = local.apiserver_ready
      diagnose = "systemctl status --no-pager kube-apiserver"
      ready    = "kube-apiserver ready"
    })
  }
}

task "kube_controller_manager" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.kube_apiserver, task.control_plane_binaries]

  file "unit" {
    destination = "/etc/systemd/system/kube-controller-manager.service"
    content = templatefile("templates/kube-controller-manager.service", {
      pod_cidr                 = var.pod_cidr
      node_cidr_mask_size      = var.node_cidr_mask_size
      cluster_name             = var.cluster_name
      service_cidr             = var.service_cidr
      cluster_signing_duration = var.cluster_signing_duration
      terminated_pod_gc_threshold = var.terminated_pod_gc_threshold
      cipher_suites            = join(",", local.tls_cipher_suites)
    })
    mode = "0600"
  }

  # Started when not running; restarted when its configuration or its client certificate
  # changed (renewed) since it last started, one master at a time behind a health gate
  # (templates/rolling-restart.sh).
  script "rollout" {
    unless = "systemctl is-active -q kube-controller-manager && test \"$(cat /etc/systemd/system/kube-controller-manager.service ${local.kube_controller_manager_certs} | sha256sum | cut -c1-64)\" = \"$(cat /var/lib/scratch/applied/kube-controller-manager 2>/dev/null)\""
    content = join("\n", [
      "# this master's certificates (server_certs): ${task.server_certs.output.certs_digest}",
      "UNIT=kube-controller-manager",
      "FILES='/etc/systemd/system/kube-controller-manager.service ${local.kube_controller_manager_certs}'",
      "OTHERS='${join(" ", [for m in group.masters.hosts : task.facts[m.name].output.ip if m.name != target.name])}'",
      "TIMEOUT=180",
      file("templates/rolling-restart.sh"),
    ])
  }
  # A new binary (its digest is an input of this task): restart when the running process is
  # not the installed file.
  run "restart_new_binary" {
    when    = task.control_plane_binaries.output.kube_controller_manager_sha256 != ""
    command = "systemctl restart kube-controller-manager"
    unless  = format(local.runs_installed, "kube-controller-manager", "/usr/local/bin/kube-controller-manager")
  }
}

task "kube_scheduler" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.kube_apiserver, task.control_plane_binaries]

  file "config" {
    destination = "/etc/kubernetes/kube-scheduler.yaml"
    content     = file("templates/kube-scheduler.yaml")
    mode        = "0644"
  }

  file "unit" {
    destination = "/etc/systemd/system/kube-scheduler.service"
    content = templatefile("templates/kube-scheduler.service", {
      cipher_suites = join(",", local.tls_cipher_suites)
    })
    mode = "0600"
  }

  # Started when not running; restarted when its configuration or its client certificate
  # changed (renewed) since it last started, one master at a time behind a health gate
  # (templates/rolling-restart.sh).
  script "rollout" {
    unless = "systemctl is-active -q kube-scheduler && test \"$(cat /etc/systemd/system/kube-scheduler.service /etc/kubernetes/kube-scheduler.yaml ${local.kube_scheduler_certs} | sha256sum | cut -c1-64)\" = \"$(cat /var/lib/scratch/applied/kube-scheduler 2>/dev/null)\""
    content = join("\n", [
      "# this master's certificates (server_certs): ${task.server_certs.output.certs_digest}",
      "UNIT=kube-scheduler",
      "FILES='/etc/systemd/system/kube-scheduler.service /etc/kubernetes/kube-scheduler.yaml ${local.kube_scheduler_certs}'",
      "OTHERS='${join(" ", [for m in group.masters.hosts : task.facts[m.name].output.ip if m.name != target.name])}'",
      "TIMEOUT=180",
      file("templates/rolling-restart.sh"),
    ])
  }
  # A new binary (its digest is an input of this task): restart when the running process is
  # not the installed file.
  run "restart_new_binary" {
    when    = task.control_plane_binaries.output.kube_scheduler_sha256 != ""
    command = "systemctl restart kube-scheduler"
    unless  = format(local.runs_installed, "kube-scheduler", "/usr/local/bin/kube-scheduler")
  }
}
