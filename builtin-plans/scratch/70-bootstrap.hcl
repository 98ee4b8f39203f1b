# TLS bootstrapping (seed step 7 and 8.5): the bootstrap token, the RBAC
# bindings that let kubelets ask for and get their certificates, and the files every node
# gets: the CA certificate, the bootstrap kubeconfig and the kube-proxy kubeconfig.

# The token is checked on every run (always_run): a node added on a later day must get a
# token that is still valid, whatever the run state remembers of the first day. One that
# expires within min(1 hour, half its lifetime), or whose Secret the token cleaner removed,
# is replaced; the nodes that joined already never get the new one (see node_kubeconfigs).
locals {
  bootstrap_token_ttl_seconds = floor(var.bootstrap_token_ttl_hours * 3600)
  bootstrap_token_min_left    = min(3600, floor(var.bootstrap_token_ttl_hours * 1800))
  bootstrap_token_valid       = "f=/etc/kubernetes/bootstrap-token; test -s $f && exp=$(/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig -n kube-system get secret \"bootstrap-token-$(cut -d. -f1 $f)\" -o jsonpath='{.data.expiration}' 2>/dev/null | base64 -d) && test -n \"$exp\" && test $(( $(date -u -d \"$exp\" +%s) - $(date -u +%s) )) -ge ${local.bootstrap_token_min_left}"
}

task "bootstrap" {
  on         = local.first_master
  sudo       = true
  depends_on = [task.kube_apiserver, task.kube_controller_manager]
  always_run = true

  run "dirs" {
    command = "mkdir -p /etc/kubernetes/addons"
    unless  = "test -d /etc/kubernetes/addons"
  }

  file "rbac" {
    destination = "/etc/kubernetes/addons/bootstrap-rbac.yaml"
    content     = file("templates/bootstrap-rbac.yaml")
    mode        = "0644"
  }
  # with the super-admin: the admin's own binding is in this file
  run "rbac_apply" {
    command = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/super-admin.kubeconfig apply -f /etc/kubernetes/addons/bootstrap-rbac.yaml"
    unless  = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/super-admin.kubeconfig diff -f /etc/kubernetes/addons/bootstrap-rbac.yaml >/dev/null 2>&1"
  }

  # RBAC reads bindings from a cache: the admin is cluster-admin a moment after its binding
  # was made
  script "admin_ready" {
    unless = "test \"$(/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig auth can-i '*' '*' 2>/dev/null)\" = yes"
    content = templatefile("templates/wait.sh", {
      what     = "the admin (group kubeadm:cluster-admins) to be cluster-admin"
      timeout  = 60
      interval = 1
      probe    = "test \"$(/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig auth can-i '*' '*')\" = yes"
      diagnose = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/super-admin.kubeconfig get clusterrolebinding kubeadm:cluster-admins -o yaml"
      ready    = "admin is cluster-admin"
    })
  }

  # A token only while a node has still to join: once every node is registered the
  # bootstrap_token_cleanup task deletes its Secret, and a re-run that adds a node makes a
  # new one.
  script "make_token" {
    # A master joining etcd (growing to three) leaves the cluster without a quorum for a
    # moment, and the Secret's create fails with "etcdserver: request timed out" (seen once in
    # TestScratchHA's growth run). Each try makes a new token; a Secret that a timed-out try
    # did write is never used and expires (the token cleaner removes it).
    retry {
      attempts = 3
      delay    = "10s"
    }
    unless = "{ ${local.bootstrap_token_valid}; } || { test -s /etc/kubernetes/bootstrap-token && /usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig get nodes ${join(" ", [for h in local.all_hosts : task.facts[h.name].output.node_name])} >/dev/null 2>&1; }"
    content = join("\n", [
      "TTL_SECONDS='${local.bootstrap_token_ttl_seconds}'",
      "MIN_LEFT='${local.bootstrap_token_min_left}'",
      "NODES='${join(" ", [for h in local.all_hosts : task.facts[h.name].output.node_name])}'",
      file("templates/bootstrap-token.sh"),
    ])
  }

  fetch "token_file" {
    source = "/etc/kubernetes/bootstrap-token"
  }

  output "token" {
    value     = trimspace(step.token_file.content)
    sensitive = true
  }
}

# kube-proxy's credential, one per node: the key is made on the node and never leaves it;
# the first master signs its certificate request (kube_proxy_certs).
task "kube_proxy_key" {
  on         = local.all_hosts
  sudo       = true
  depends_on = [task.os_prep]

  script "request" {
    creates = "/var/lib/kube-proxy/kube-proxy.csr"
    content = <<-EOT
      set -eu
      umask 077
      mkdir -p /var/lib/kube-proxy
      cd /var/lib/kube-proxy
      # a new key whenever there is no request yet (an older plan pushed one key to every node)
      openssl ecparam -name ${var.key_curve} -genkey -noout -out kube-proxy.key.new
      mv kube-proxy.key.new kube-proxy.key
      openssl req -new -sha256 -key kube-proxy.key -subj /O=system:node-proxier/CN=system:kube-proxy -out kube-proxy.csr.new
      chmod 0644 kube-proxy.csr.new
      mv kube-proxy.csr.new kube-proxy.csr
    EOT
  }
  fetch "csr" {
    source = "/var/lib/kube-proxy/kube-proxy.csr"
  }
  output "csr" {
    value = step.csr.content
  }
}

task "kube_proxy_certs" {
  on         = local.first_master
  sudo       = true
  # server_certs: both sign with the CA on the first master, and openssl's -CAcreateserial
  # rewrites ca.srl: at the same time, one read it half written ("Unable to load number
  # from ca.srl") and failed the build
  depends_on = [task.pki, task.server_certs]

  # skipped when every node's certificate was signed from its current request, none expires
  # within cert_renew_before_days and certs.json holds them all
  script "sign" {
    unless = join(" && ", concat(["test -s /etc/kubernetes/pki/kube-proxy/certs.json", "test \"$(cat ${join(" ", [for h in local.all_hosts : "/etc/kubernetes/pki/kube-proxy/${h.name}.crt"])} 2>/dev/null | sha256sum | cut -c1-64)\" = \"$(cat /etc/kubernetes/pki/kube-proxy/certs.json.sha256 2>/dev/null)\""], [for h in local.all_hosts :
      "test -s /etc/kubernetes/pki/kube-proxy/${h.name}.crt && test \"$(sha256sum < /etc/kubernetes/pki/kube-proxy/${h.name}.csr 2>/dev/null | cut -c1-64)\" = ${sha256(task.kube_proxy_key[h.name].output.csr)} && openssl x509 -checkend ${local.cert_renew_seconds} -noout -in /etc/kubernetes/pki/kube-proxy/${h.name}.crt >/dev/null"
    ]))
    content = join("\n", concat([
      "# due for renewal on this host (cert_expiry): ${task.cert_expiry.output.renew}",
      "CURVE='${var.key_curve}'",
      "CA_DAYS='${var.ca_days}'",
      "CERT_DAYS='${var.cert_days}'",
      "RENEW_SECONDS='${local.cert_renew_seconds}'",
      "NODES='${join(" ", [for h in local.all_hosts : h.name])}'",
      file("templates/pki-lib.sh"),
      "mkdir -p /etc/kubernetes/pki/kube-proxy",
      ], [for h in local.all_hosts : "cat > /etc/kubernetes/pki/kube-proxy/${h.name}.csr.new <<'CSR'\n${trimspace(task.kube_proxy_key[h.name].output.csr)}\nCSR"], [
      file("templates/kube-proxy-sign.sh"),
    ]))
  }
  fetch "certs" {
    source = "/etc/kubernetes/pki/kube-proxy/certs.json"
  }
  output "certs" {
    value = jsondecode(step.certs.content)
  }
}

# What a node needs to join: the CA certificate, the bootstrap token and kube-proxy's client
# certificate (its key was made on the node; no private key reaches a worker). The
# kubeconfigs refer to them by path, so they hold no secret themselves.
task "node_kubeconfigs" {
  on         = local.all_hosts
  sudo       = true
  depends_on = [task.os_prep] # on this host, after install_id: a reset node gets them again

  run "dirs" {
    command = "mkdir -p /etc/kubernetes/pki /var/lib/kubelet /var/lib/kube-proxy"
    unless  = "test -d /etc/kubernetes/pki && test -d /var/lib/kubelet && test -d /var/lib/kube-proxy"
  }

  file "ca" {
    destination = "/etc/kubernetes/pki/ca.crt"
    content     = task.pki.output.ca_crt
    mode        = "0644"
  }

  # Only a node that has not joined yet needs the token: one that has keeps the token it
  # joined with, so a token made again for a node added later changes nothing here.
  file "bootstrap_token" {
    destination = "/var/lib/kubelet/bootstrap-token"
    content     = "${task.bootstrap.output.token}\n"
    mode        = "0600"
    unless      = local.kubelet_joined
  }

  file "kube_proxy_crt" {
    destination = "/var/lib/kube-proxy/kube-proxy.crt"
    content     = task.kube_proxy_certs.output.certs[target.name]
    mode        = "0644"
  }

  # Every node reaches the API through its local load balancer (api_lb); without it, masters
  # reach their own API server and workers api_endpoint (else the first master).
  file "bootstrap" {
    destination = "/etc/kubernetes/bootstrap.kubeconfig"
    content = templatefile("templates/kubeconfig.yaml", {
      cluster     = var.cluster_name
      server      = local.api_lb ? "https://127.0.0.1:${var.api_lb_port}" : contains([for m in group.masters.hosts : m.name], target.name) ? "https://127.0.0.1:6443" : "https://${task.pki.output.api_address}:6443"
      ca_data     = base64encode(task.pki.output.ca_crt)
      user        = "kubelet-bootstrap"
      token_file  = "/var/lib/kubelet/bootstrap-token"
      client_cert = ""
      client_key  = ""
    })
    mode = "0600"
  }

  file "kube_proxy" {
    destination = "/etc/kubernetes/kube-proxy.kubeconfig"
    content = templatefile("templates/kubeconfig.yaml", {
      cluster     = var.cluster_name
      server      = local.api_lb ? "https://127.0.0.1:${var.api_lb_port}" : contains([for m in group.masters.hosts : m.name], target.name) ? "https://127.0.0.1:6443" : "https://${task.pki.output.api_address}:6443"
      ca_data     = base64encode(task.pki.output.ca_crt)
      user        = "system:kube-proxy"
      token_file  = ""
      client_cert = "/var/lib/kube-proxy/kube-proxy.crt"
      client_key  = "/var/lib/kube-proxy/kube-proxy.key"
    })
    mode = "0600"
  }

  # kube-proxy restarts, and the load balancer's health-check certificate is made again, when
  # its certificate changed (a new key, a renewal): by digest, so that every new certificate
  # is a new input of kube_proxy and api_lb
  output "kube_proxy_crt_sha256" {
    value = sha256(task.kube_proxy_certs.output.certs[target.name])
  }

  output "api_server" {
    value = local.api_lb ? "https://127.0.0.1:${var.api_lb_port}" : contains([for m in group.masters.hosts : m.name], target.name) ? "https://127.0.0.1:6443" : "https://${task.pki.output.api_address}:6443"
  }
}
