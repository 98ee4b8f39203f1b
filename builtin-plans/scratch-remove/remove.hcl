# Removes nodes from a running cluster built by the scratch plan.
#
#   plan run scratch-remove -H masters=cp1 -H remove=w2
#
# masters is a master that stays (kubectl and etcdctl run there); remove lists the nodes to
# take out, one after the other. For each: cordon and drain it (DaemonSet pods stay,
# emptyDir data goes, bounded by drain_timeout), delete its Node, and, when it is an etcd
# member (a master), remove that member from etcd; then the hosts are reset as scratch-reset does (kept: binaries,
# images, OS settings). The hosts must be reachable. Afterwards run the scratch plan
# without them (its -H lists) so that the remaining masters' configuration forgets them.

variable "drain_timeout" {
  type        = string
  default     = "5m"
  description = "How long kubectl drain may take per node (pods with a PodDisruptionBudget that forbids eviction hold it up)"
}

group "masters" {}
group "remove" {}

locals {
  kubectl = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig"
  etcdctl = "/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd-ca.crt --cert=/etc/kubernetes/pki/etcd-client.crt --key=/etc/kubernetes/pki/etcd-client.key --command-timeout=10s"
  staying = group.masters.hosts[0]
}

# What each node to remove is called in the cluster, read from the units the scratch plan
# wrote there (the Node's name, and the etcd member's when the host is a master).
task "identify" {
  on   = group.remove.hosts
  sudo = true

  run "refuse_self" {
    when    = target.name == local.staying.name
    command = "echo '${target.name} is both the master that stays (masters) and a node to remove (remove): give another master in -H masters=' >&2; exit 1"
  }
  run "node_name" {
    command = "sed -n 's/^.*--hostname-override=\\([^ ]*\\).*$/\\1/p' /etc/systemd/system/kubelet.service 2>/dev/null | grep . || hostname | tr '[:upper:]' '[:lower:]'"
    changed = false
  }
  run "etcd_name" {
    command = "sed -n 's/^.*--name=\\([^ ]*\\).*$/\\1/p' /etc/systemd/system/etcd.service 2>/dev/null || true"
    changed = false
  }

  output "node_name" {
    value = trimspace(step.node_name.stdout)
  }
  output "etcd_name" {
    value = trimspace(step.etcd_name.stdout)
  }
}

# Drain, delete the Node, leave etcd: on the master that stays, one node after the other.
task "leave" {
  on   = local.staying
  sudo = true

  script "leave" {
    content = join("\n", [
      "NODES='${join(" ", [for h in group.remove.hosts : "${task.identify[h.name].output.node_name}:${task.identify[h.name].output.etcd_name}"])}'",
      "KUBECTL='${local.kubectl}'",
      "ETCDCTL='${local.etcdctl}'",
      "DRAIN_TIMEOUT='${var.drain_timeout}'",
      file("templates/leave.sh"),
    ])
    unless = "for n in ${join(" ", [for h in group.remove.hosts : "${task.identify[h.name].output.node_name}:${task.identify[h.name].output.etcd_name}"])}; do ! ${local.kubectl} get node \"$${n%%:*}\" >/dev/null 2>&1 || exit 1; e=$${n#*:}; [ -z \"$e\" ] || ! ${local.etcdctl} member list -w simple | cut -d, -f3 | tr -d ' ' | grep -qxF \"$e\" || exit 1; done"
  }
}

# The host forgets the cluster (scratch-reset's reset), once it is out of it.
task "reset" {
  on         = group.remove.hosts
  sudo       = true
  depends_on = [task.leave]

  script "reset" {
    content = join("\n", [
      "REMOVE_BINARIES='0'",
      "REMOVE_IMAGES='0'",
      file("templates/reset.sh"),
    ])
    unless = "! test -e /etc/kubernetes && ! test -e /var/lib/kubelet && ! test -e /var/lib/etcd && ! test -e /etc/systemd/system/kubelet.service"
  }
}
