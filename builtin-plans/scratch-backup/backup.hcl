# Backs up a scratch cluster: an etcd snapshot and the encryption key, fetched to the operator.
#
#   plan run scratch-backup -H masters=cp1
#
# The snapshot is taken on the first master of the group (any healthy member holds the
# whole cluster), streamed to backup_dir/etcd-MASTER-TIME.db and removed from the master.
# Secrets are encrypted at rest in it, so the API server's encryption configuration (its
# key) is fetched beside it as etcd-MASTER-TIME.encryption-config.yaml: without it the
# Secrets of the snapshot cannot be read. Both files are mode 0600; keep them apart from
# each other if you can, and both safe. It runs on every run (always_run): each run is a new
# backup. Restore with the scratch-restore plan (docs/scratch.md, Day two).

variable "backup_dir" {
  type        = string
  default     = "backups"
  description = "Local directory (on the machine running plan) the snapshot is written to"
}

group "masters" {}

locals {
  etcdctl = "/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd-ca.crt --cert=/etc/kubernetes/pki/etcd-client.crt --key=/etc/kubernetes/pki/etcd-client.key"
  staged  = "/var/lib/scratch/backup/snapshot.db"
}

task "snapshot" {
  on         = group.masters.hosts[0]
  sudo       = true
  always_run = true

  run "stamp" {
    command = "date -u +%Y%m%dT%H%M%SZ"
    changed = false
  }

  # Saved beside, then renamed: a snapshot cut short is never taken for one.
  run "save" {
    command = "install -d -m 0700 /var/lib/scratch/backup && rm -f ${local.staged}.part && ${local.etcdctl} --command-timeout=5m snapshot save ${local.staged}.part >/dev/null && chmod 0600 ${local.staged}.part && mv ${local.staged}.part ${local.staged}"
  }

  # The revision and size of what was saved, for the log (no key or value of the data).
  run "status" {
    command = "${local.etcdctl} endpoint status -w table && ls -l ${local.staged}"
    changed = false
  }

  fetch "snapshot" {
    source      = local.staged
    destination = "${var.backup_dir}/etcd-${target.name}-${trimspace(step.stamp.stdout)}.db"
  }

  fetch "encryption_config" {
    source      = "/etc/kubernetes/encryption-config.yaml"
    destination = "${var.backup_dir}/etcd-${target.name}-${trimspace(step.stamp.stdout)}.encryption-config.yaml"
  }

  run "cleanup" {
    command = "rm -f ${local.staged}"
  }

  output "snapshot" {
    value = "${var.backup_dir}/etcd-${target.name}-${trimspace(step.stamp.stdout)}.db"
  }
  output "encryption_config" {
    value = "${var.backup_dir}/etcd-${target.name}-${trimspace(step.stamp.stdout)}.encryption-config.yaml"
  }
}
