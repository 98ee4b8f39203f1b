# Restores an etcd snapshot taken by scratch-backup into a cluster built by the scratch plan.
#
#   plan run scratch-restore -H masters=cp1 -H workers=w1,w2 \
#     --var snapshot=$PWD/backups/etcd-cp1-20261205T190000Z.db \
#     --var encryption_config=$PWD/backups/etcd-cp1-20261205T190000Z.encryption-config.yaml \
#     --var etcdutl=/path/to/etcdutl
#
# The cluster's state becomes the snapshot's: every object made after it (or, on a fresh
# cluster, everything of its own) is gone. On every master: the control plane and etcd stop,
# the snapshot is restored with etcdutl into a new data directory for that member (all the
# masters as one new etcd cluster), the old directory is kept as /var/lib/etcd.before-restore,
# the backup's encryption configuration replaces the API server's (Secrets in the snapshot
# are encrypted with its key), then etcd, the API server, the controller manager and the
# scheduler start again, and every kubelet restarts so that it registers its Node again.
# The cluster's PKI stays: ServiceAccount tokens issued by another cluster are not valid
# here (their pods get new ones). Run the scratch plan again with --force afterwards: its
# guards put back the cluster objects the snapshot lacks (the bootstrap token, RBAC, addons).

variable "snapshot" {
  type        = string
  default     = ""
  description = "Absolute local path of the etcd snapshot (scratch-backup's etcd-MASTER-TIME.db); required"
  validation {
    condition     = var.snapshot == "" || startswith(var.snapshot, "/")
    error_message = "snapshot is an absolute path (relative paths of an embedded plan have no directory to start from): --var snapshot=$PWD/backups/etcd-....db"
  }
}

variable "encryption_config" {
  type        = string
  default     = ""
  description = "Absolute local path of the encryption configuration saved with the snapshot; required"
  validation {
    condition     = var.encryption_config == "" || startswith(var.encryption_config, "/")
    error_message = "encryption_config is an absolute path: --var encryption_config=$PWD/backups/etcd-....encryption-config.yaml"
  }
}

variable "etcdutl" {
  type        = string
  default     = ""
  description = "Absolute local path of an etcdutl binary of the cluster's etcd version, pushed to /usr/local/bin/etcdutl (etcd's release archive has it); empty: the masters have it there already"
}

group "masters" {}
group "workers" {}

locals {
  etcd_health = "/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd-ca.crt --cert=/etc/kubernetes/pki/etcd-client.crt --key=/etc/kubernetes/pki/etcd-client.key --command-timeout=5s endpoint health"
  unit_flag   = "sed -n 's/^.*--%s=\\([^ ]*\\).*$/\\1/p' /etc/systemd/system/etcd.service"
}

# What each member is called and where its peers reach it, from the unit the scratch plan
# wrote: the restored cluster has the same members.
task "member" {
  on   = group.masters.hosts
  sudo = true

  run "name" {
    command = format(local.unit_flag, "name")
    changed = false
  }
  run "peer_url" {
    command = format(local.unit_flag, "initial-advertise-peer-urls")
    changed = false
  }
  run "token" {
    command = format(local.unit_flag, "initial-cluster-token")
    changed = false
  }

  output "name" {
    value = trimspace(step.name.stdout)
  }
  output "peer_url" {
    value = trimspace(step.peer_url.stdout)
  }
  output "token" {
    value = trimspace(step.token.stdout)
  }
}

# The files every master needs, pushed before anything stops.
task "files" {
  on   = group.masters.hosts
  sudo = true

  # Nothing stops before the inputs are there.
  run "inputs" {
    when    = var.snapshot == "" || var.encryption_config == ""
    command = "echo 'give the backup: --var snapshot=/abs/path/etcd-MASTER-TIME.db --var encryption_config=/abs/path/etcd-MASTER-TIME.encryption-config.yaml' >&2; exit 1"
  }
  run "dir" {
    command = "install -d -m 0700 /var/lib/scratch/restore"
    unless  = "test -d /var/lib/scratch/restore"
  }
  file "snapshot" {
    when        = var.snapshot != ""
    source      = var.snapshot
    destination = "/var/lib/scratch/restore/snapshot.db"
    mode        = "0600"
  }
  file "encryption_config" {
    when        = var.encryption_config != ""
    source      = var.encryption_config
    destination = "/var/lib/scratch/restore/encryption-config.yaml"
    mode        = "0600"
  }
  file "etcdutl" {
    when        = var.etcdutl != ""
    source      = var.etcdutl
    destination = "/usr/local/bin/etcdutl"
    mode        = "0755"
  }
}

# Every master restores its member's data directory; all of them stop first (each waits for
# every member's name, which makes them one step).
task "restore" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.files]

  script "restore" {
    content = join("\n", [
      "NAME='${task.member.output.name}'",
      "PEER_URL='${task.member.output.peer_url}'",
      "TOKEN='${task.member.output.token}'",
      "CLUSTER='${join(",", [for h in group.masters.hosts : "${task.member[h.name].output.name}=${task.member[h.name].output.peer_url}"])}'",
      file("templates/restore.sh"),
    ])
  }

  output "done" {
    value = trimspace(step.restore.stdout)
  }
}

# etcd starts on every master once all of them are restored (a member alone has no quorum).
task "etcd_start" {
  on   = group.masters.hosts
  sudo = true

  run "start" {
    # naming every member's restore makes this wait for all of them
    when    = length([for h in group.masters.hosts : task.restore[h.name].output.done]) > 0
    command = "systemctl start --no-block etcd"
  }
  script "wait_healthy" {
    content = templatefile("templates/wait.sh", {
      what     = "etcd to be healthy"
      timeout  = 180
      interval = 1
      probe    = local.etcd_health
      diagnose = "systemctl status --no-pager etcd"
      ready    = "etcd healthy"
    })
  }
}

task "control_plane_start" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.etcd_start]

  run "start" {
    command = "systemctl start kube-apiserver kube-controller-manager kube-scheduler"
  }
  script "wait_ready" {
    content = templatefile("templates/wait.sh", {
      what     = "the API server to be ready"
      timeout  = 180
      interval = 1
      probe    = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig get --raw /readyz"
      diagnose = "journalctl -u kube-apiserver --no-pager -n 20"
      ready    = "API server ready"
    })
  }
}

# Kubelets register their Node again (the snapshot has the Nodes of its own cluster).
task "kubelet_restart" {
  on   = distinct(concat(group.masters.hosts, group.workers.hosts))
  sudo       = true
  depends_on = [task.control_plane_start]

  run "restart" {
    command = "systemctl restart kubelet kube-proxy"
  }
}
