# What runs on the cluster itself (seed steps 8.4-8.5 and 9.2-9.3): masters
# labelled, kubelet serving certificates approved, flannel, CoreDNS.

# A barrier: the kubelet and kube-proxy run on every host but the first master. Tasks on
# the first master that need the whole cluster depend on it (a dependency on a task that
# shares their host would wait only for that host's node).
task "nodes_joined" {
  on         = concat(local.other_masters, local.only_workers)
  depends_on = [task.kubelet, task.kube_proxy]

  run "running" {
    command = "echo 'kubelet or kube-proxy is not running' >&2; exit 1"
    unless  = "systemctl is-active -q kubelet && systemctl is-active -q kube-proxy"
  }
}

# Once every node has joined, the bootstrap token is a credential nobody needs: its Secret is
# deleted (the token then authenticates nothing). A re-run that adds a node makes a new one
# (bootstrap task), and this deletes it again once that node has joined.
task "bootstrap_token_cleanup" {
  on         = local.first_master
  sudo       = true
  depends_on = [task.kubelet, task.nodes_joined]

  # a kubelet registers its Node a moment after it got its certificate
  retry {
    attempts = 20
    delay    = "3s"
  }

  run "delete" {
    command = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig get nodes ${join(" ", [for h in local.all_hosts : task.facts[h.name].output.node_name])} >/dev/null && /usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig -n kube-system delete secret \"bootstrap-token-$(cut -d. -f1 /etc/kubernetes/bootstrap-token)\""
    unless  = "s=$(/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig -n kube-system get secret \"bootstrap-token-$(cut -d. -f1 /etc/kubernetes/bootstrap-token)\" -o name --ignore-not-found) && test -z \"$s\""
  }
}

# A master's node gets the control-plane role label (a kubelet may not set it itself).
task "node_roles" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.kubelet]

  # the Node object appears a moment after the kubelet got its certificate
  retry {
    attempts = 20
    delay    = "3s"
  }

  run "label" {
    command = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig label node ${task.facts.output.node_name} node-role.kubernetes.io/control-plane= --overwrite"
    unless  = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig get node ${task.facts.output.node_name} -o jsonpath='{.metadata.labels}' | grep -q node-role.kubernetes.io/control-plane"
  }
}

# Kubelets ask for serving certificates (serverTLSBootstrap); no built-in controller
# approves those, so the plan approves each node's own request, after checking it. Each
# node is judged by the certificate it serves on :10250 (signed by kubelet-serving-ca, valid
# now, for the node's address), not by counting requests: the CSR cleaner removes them
# after an hour, and a node added on a later day must be waited for, the others not. It
# runs on every run (always_run): a kubelet renews its serving certificate before it
# expires with a new request, which a later run approves.
locals {
  # $nodes: "NAME=IP ..." of every node, set before it
  kubelet_serving_ok = <<-EOT
    missing=''
    for n in $nodes; do
      ip=$${n#*=}
      echo | timeout 5 openssl s_client -connect "$ip:10250" -CAfile /etc/kubernetes/pki/kubelet-serving-ca.crt -verify_return_error -verify_ip "$ip" >/dev/null 2>&1 || missing="$missing $${n%%=*}"
    done
    if [ -n "$missing" ]; then echo "no serving certificate signed by kubelet-serving-ca yet on:$missing"; false; else echo 'every kubelet serves a certificate signed by kubelet-serving-ca'; fi
  EOT
}

task "kubelet_serving" {
  on         = local.first_master
  sudo       = true
  depends_on = [task.kubelet, task.addon_files, task.nodes_joined]
  when       = var.kubelet_server_tls_bootstrap
  always_run = true

  script "approve" {
    # Each try approves what has arrived, then asks each kubelet for its certificate (the
    # last command: its status is the probe's).
    content = templatefile("templates/wait.sh", {
      what     = "a serving certificate on each of the ${length(local.all_hosts)} kubelets"
      timeout  = 120
      interval = 1 # poll often: every wait here is on the critical path
      probe    = <<-EOT
        sh -s < /etc/kubernetes/addons/approve-serving.sh || return 1
        nodes='${join(" ", [for h in local.all_hosts : "${h.name}=${task.facts[h.name].output.ip}"])}'
        ${indent(2, local.kubelet_serving_ok)}
      EOT
      diagnose = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig get csr"
      ready    = "kubelet serving certificates approved"
    })
    unless = "nodes='${join(" ", [for h in local.all_hosts : "${h.name}=${task.facts[h.name].output.ip}"])}'\n${local.kubelet_serving_ok}"
  }
}

# The approval script and its allowlist live on the first master (also for a manual run).
task "addon_files" {
  on         = local.first_master
  sudo       = true
  depends_on = [task.bootstrap]

  file "approve_serving" {
    destination = "/etc/kubernetes/addons/approve-serving.sh"
    content     = file("templates/approve-serving.sh")
    mode        = "0755"
  }

  # What each node may have in its serving certificate: its node name and its address, as
  # facts found them (the kubelet's --hostname-override and --node-ip). NAME DNS IP.
  file "kubelet_serving_allowlist" {
    destination = "/etc/kubernetes/addons/kubelet-serving-allowlist"
    content     = join("", [for h in local.all_hosts : "${task.facts[h.name].output.node_name} ${task.facts[h.name].output.node_name} ${task.facts[h.name].output.ip}\n"])
    mode        = "0644"
  }

  file "flannel" {
    destination = "/etc/kubernetes/addons/kube-flannel.yaml"
    content = templatefile("templates/kube-flannel.yaml", {
      flannel_version = var.flannel_version
      image           = local.flannel_image
      pod_cidr        = var.pod_cidr
      enable_nftables = var.kube_proxy_mode == "nftables"
      # flanneld (host network) reaches the API through the node's load balancer, not the
      # kubernetes Service, so it does not depend on one master or on kube-proxy
      api_lb_port = local.api_lb ? var.api_lb_port : 0
    })
    mode = "0644"
  }

  file "coredns" {
    destination = "/etc/kubernetes/addons/coredns.yaml"
    content = templatefile("templates/coredns.yaml", {
      coredns_version = var.coredns_version
      image           = local.coredns_image
      dns_ip          = local.dns_service_ip
      cluster_domain  = var.cluster_domain
      replicas        = var.coredns_replicas
    })
    mode = "0644"
  }
}

# flannel needs the API through the kubernetes Service, so kube-proxy runs first.
task "flannel" {
  on         = local.first_master
  sudo       = true
  depends_on = [task.addon_files, task.kube_proxy, task.kubelet, task.nodes_joined]

  run "apply" {
    command = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig apply -f /etc/kubernetes/addons/kube-flannel.yaml"
    unless  = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig diff -f /etc/kubernetes/addons/kube-flannel.yaml >/dev/null 2>&1"
  }
}

# A pod scheduled on a node before flannel has written the node's subnet.env gets no network
# and is retried only after the kubelet's back-off (CoreDNS sat ~13 s in ContainerCreating):
# CoreDNS is applied once every node has its flannel subnet.
task "flannel_ready" {
  on         = local.all_hosts
  depends_on = [task.flannel, task.kubelet] # the kubelet on this host runs its flannel pod

  script "subnet" {
    changed = false
    content = templatefile("templates/wait.sh", {
      what     = "flannel to write this node's /run/flannel/subnet.env"
      timeout  = 180
      interval = 1
      probe    = "test -s /run/flannel/subnet.env || { echo 'no /run/flannel/subnet.env yet'; return 1; }"
      diagnose = "ip -d link show flannel.1"
      ready    = "flannel subnet ready"
    })
  }
}

task "coredns" {
  on         = local.first_master
  sudo       = true
  depends_on = [task.flannel, task.flannel_ready]

  run "apply" {
    command = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig apply -f /etc/kubernetes/addons/coredns.yaml"
    unless  = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig diff -f /etc/kubernetes/addons/coredns.yaml >/dev/null 2>&1"
  }
}
