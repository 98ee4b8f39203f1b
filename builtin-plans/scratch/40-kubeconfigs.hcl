# Kubeconfigs of the master components and of kubectl (seed step 4). On a master
# they talk to their own API server on 127.0.0.1 and read the certificates in
# /etc/kubernetes/pki; the seed's `kubectl config set-*` lines become one template.

task "kubeconfigs" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.users, task.pki, task.pki_share] # users: the files belong to them

  file "controller_manager" {
    destination = "/etc/kubernetes/kube-controller-manager.kubeconfig"
    content = templatefile("templates/kubeconfig.yaml", {
      cluster     = var.cluster_name
      server      = "https://127.0.0.1:6443"
      ca_data     = ""
      user        = "system:kube-controller-manager"
      token_file  = ""
      client_cert = "/etc/kubernetes/pki/kube-controller-manager.crt"
      client_key  = "/etc/kubernetes/pki/kube-controller-manager.key"
    })
    owner = "kube-controller-manager"
    group = "kube-controller-manager"
    mode  = "0600"
  }

  file "scheduler" {
    destination = "/etc/kubernetes/kube-scheduler.kubeconfig"
    content = templatefile("templates/kubeconfig.yaml", {
      cluster     = var.cluster_name
      server      = "https://127.0.0.1:6443"
      ca_data     = ""
      user        = "system:kube-scheduler"
      token_file  = ""
      client_cert = "/etc/kubernetes/pki/kube-scheduler.crt"
      client_key  = "/etc/kubernetes/pki/kube-scheduler.key"
    })
    owner = "kube-scheduler"
    group = "kube-scheduler"
    mode  = "0600"
  }

  file "admin" {
    destination = "/etc/kubernetes/admin.kubeconfig"
    content = templatefile("templates/kubeconfig.yaml", {
      cluster     = var.cluster_name
      server      = "https://127.0.0.1:6443"
      ca_data     = ""
      user        = "kubernetes-admin"
      token_file  = ""
      client_cert = "/etc/kubernetes/pki/admin.crt"
      client_key  = "/etc/kubernetes/pki/admin.key"
    })
    owner = "kube-admin"
    group = "kube-admin"
    mode  = "0600"
  }

  # Break-glass (kubeadm's super-admin.conf): system:masters, which no RBAC change can
  # restrict, on the first master only, for root only. The plan uses it once, to bind the
  # admin's group to cluster-admin (bootstrap task).
  file "super_admin" {
    when        = target.name == local.first_master[0].name
    destination = "/etc/kubernetes/super-admin.kubeconfig"
    content = templatefile("templates/kubeconfig.yaml", {
      cluster     = var.cluster_name
      server      = "https://127.0.0.1:6443"
      ca_data     = ""
      user        = "kubernetes-super-admin"
      token_file  = ""
      client_cert = "/etc/kubernetes/pki/super-admin.crt"
      client_key  = "/etc/kubernetes/pki/super-admin.key"
    })
    mode = "0600"
  }

  # root's kubectl uses the admin kubeconfig (the seed's ~/.kube/config link)
  run "root_kubeconfig" {
    command = "mkdir -p /root/.kube && ln -sfn /etc/kubernetes/admin.kubeconfig /root/.kube/config"
    unless  = "test \"$(readlink /root/.kube/config)\" = /etc/kubernetes/admin.kubeconfig"
  }
}
