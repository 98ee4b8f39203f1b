# TLS bootstrapping (seed step 7 and 8.5): the bootstrap token, the RBAC
# bindings that let kubelets ask for and get their certificates, and the files every node
# gets: the CA certificate, the bootstrap kubeconfig and the kube-proxy kubeconfig.

task "bootstrap" {
  on         = local.first_master
  sudo       = true
  depends_on = [task.kube_apiserver, task.kube_controller_manager]

  run "dirs" {
    command = "mkdir -p /etc/kubernetes/addons"
    unless  = "test -d /etc/kubernetes/addons"
  }

  file "rbac" {
    destination = "/etc/kubernetes/addons/bootstrap-rbac.yaml"
    content     = file("templates/bootstrap-rbac.yaml")
    mode        = "0644"
  }
  run "rbac_apply" {
    command = "kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig apply -f /etc/kubernetes/addons/bootstrap-rbac.yaml"
    unless  = "kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig diff -f /etc/kubernetes/addons/bootstrap-rbac.yaml >/dev/null 2>&1"
  }

  script "make_token" {
    unless = "test -s /etc/kubernetes/bootstrap-token && kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig -n kube-system get secret \"bootstrap-token-$(cut -d. -f1 /etc/kubernetes/bootstrap-token)\" >/dev/null 2>&1"
    content = join("\n", [
      "TTL_HOURS='${var.bootstrap_token_ttl_hours}'",
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

# What a node needs to join: no private key but kube-proxy's reaches a worker.
task "node_kubeconfigs" {
  on   = local.all_hosts
  sudo = true

  run "dirs" {
    command = "mkdir -p /etc/kubernetes/pki"
    unless  = "test -d /etc/kubernetes/pki"
  }

  file "ca" {
    destination = "/etc/kubernetes/pki/ca.crt"
    content     = task.pki.output.ca_crt
    mode        = "0644"
  }

  # Masters reach their own API server; workers the API endpoint (a load balancer when
  # api_endpoint is set, else the first master).
  file "bootstrap" {
    destination = "/etc/kubernetes/bootstrap.kubeconfig"
    content = templatefile("templates/kubeconfig.yaml", {
      cluster   = var.cluster_name
      server    = contains([for m in group.masters.hosts : m.name], target.name) ? "https://127.0.0.1:6443" : "https://${task.pki.output.api_address}:6443"
      ca_data   = base64encode(task.pki.output.ca_crt)
      user      = "kubelet-bootstrap"
      token     = task.bootstrap.output.token
      cert_data = ""
      key_data  = ""
      cert_file = ""
    })
    mode = "0600"
  }

  file "kube_proxy" {
    destination = "/etc/kubernetes/kube-proxy.kubeconfig"
    content = templatefile("templates/kubeconfig.yaml", {
      cluster   = var.cluster_name
      server    = contains([for m in group.masters.hosts : m.name], target.name) ? "https://127.0.0.1:6443" : "https://${task.pki.output.api_address}:6443"
      ca_data   = base64encode(task.pki.output.ca_crt)
      user      = "system:kube-proxy"
      token     = ""
      cert_data = base64encode(task.pki.output.kube_proxy_crt)
      key_data  = base64encode(task.pki.output.kube_proxy_key)
      cert_file = ""
    })
    mode = "0600"
  }
}
