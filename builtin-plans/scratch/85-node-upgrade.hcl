# Nodes (workers, and the masters' kubelets too) whose containerd, kubelet or kube-proxy must
# restart for a new binary, in batches: cordon, drain, restart, Ready with the new kubelet,
# uncordon. After the whole control plane (etcd, API servers, controller managers and
# schedulers on every master), so that no kubelet runs newer than the API servers.
#
# The drain needs rights in the cluster, the restart runs on the node: the first master mints
# a short-lived token for a ServiceAccount that may only cordon, evict and annotate
# (templates/node-upgrade-rbac.yaml), the nodes use it, and the ServiceAccount is deleted when
# the rollout ends (which revokes the token). No token is made when no node needs it.

locals {
  # The token lives long enough for every node to drain and restart one after the other.
  node_upgrade_token_seconds = max(600, length(local.all_hosts) * (var.drain_timeout_seconds + 600))
  node_upgrade_kubectl       = "/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.kubeconfig"
}

# Checked on every run (always_run), on the first master: a node that did not finish its
# rollout (a failed drain, an interrupted run) gets a fresh token on the next run, whatever the
# run state remembers. Nothing is minted while every node whose binaries were replaced has
# recorded them (its Node's annotation scratch.plan/node-binaries), so a re-run changes nothing.
task "node_upgrade_token" {
  on         = local.first_master
  sudo       = true
  depends_on = [task.bootstrap]
  always_run = true

  # Which nodes had binaries replaced and have not rolled them out yet. The computed indices
  # (task.X[m.name]) wait for every master's control plane, not only this one's: no kubelet
  # restarts before every API server, controller manager and scheduler has.
  script "pending" {
    changed = false
    when    = length([for m in group.masters.hosts : [task.kube_apiserver[m.name], task.kube_controller_manager[m.name], task.kube_scheduler[m.name]]]) > 0
    content = join("\n", [
      "NODES='${join(" ", [for h in local.all_hosts : "${task.facts[h.name].output.node_name}=${task.node_binaries[h.name].output.node_digest}" if task.node_binaries[h.name].output.stale != ""])}'",
      "for nd in $NODES; do",
      "  have=$(${local.node_upgrade_kubectl} get node \"$${nd%%=*}\" -o jsonpath='{.metadata.annotations.scratch\\.plan/node-binaries}' 2>/dev/null) || have=",
      "  [ \"$have\" = \"$${nd#*=}\" ] || echo \"$${nd%%=*}\"",
      "done",
    ])
  }

  file "rbac" {
    destination = "/etc/kubernetes/addons/node-upgrade-rbac.yaml"
    content     = file("templates/node-upgrade-rbac.yaml")
    mode        = "0644"
  }
  run "rbac_apply" {
    when    = trimspace(step.pending.stdout) != ""
    command = "${local.node_upgrade_kubectl} apply -f /etc/kubernetes/addons/node-upgrade-rbac.yaml"
    unless  = "${local.node_upgrade_kubectl} diff -f /etc/kubernetes/addons/node-upgrade-rbac.yaml >/dev/null 2>&1"
  }
  # Long enough for every batch to drain and restart; revoked at the end anyway.
  run "token" {
    when    = trimspace(step.pending.stdout) != ""
    command = "${local.node_upgrade_kubectl} -n kube-system create token plan-node-upgrade --duration=${local.node_upgrade_token_seconds}s"
  }

  output "pending" {
    value = join(" ", split("\n", trimspace(step.pending.stdout)))
  }
  output "token" {
    value     = trimspace(step.token.stdout)
    sensitive = true
  }
}

# One batch at a time (serial: a number of nodes or a percentage), masters first (the order of
# local.all_hosts); once more than node_upgrade_max_fail_percentage percent of a batch failed,
# no later batch starts. A node with nothing to restart is not drained.
task "node_upgrade" {
  on                  = local.all_hosts
  sudo                = true
  depends_on          = [task.containerd, task.kubelet, task.kube_proxy, task.node_kubeconfigs]
  serial              = var.node_upgrade_serial
  max_fail_percentage = var.node_upgrade_max_fail_percentage

  script "rollout" {
    when   = task.node_upgrade_token.output.token != "" && task.node_binaries.output.stale != ""
    unless = "test \"$(cat /var/lib/scratch/applied/node-binaries 2>/dev/null)\" = '${task.node_binaries.output.node_digest}' && for u in containerd kubelet kube-proxy; do ${format(local.runs_installed, "$u", "/usr/local/bin/$u")} || exit 1; done"
    content = join("\n", [
      "TOKEN='${task.node_upgrade_token.output.token}'",
      "NODE='${task.facts.output.node_name}'",
      "DIGEST='${task.node_binaries.output.node_digest}'",
      "SERVER='${task.node_kubeconfigs.output.api_server}'",
      "DRAIN_TIMEOUT='${var.drain_timeout_seconds}'",
      "READY_TIMEOUT='300'",
      file("templates/node-upgrade.sh"),
    ])
  }
}

# The rollout is over: the ServiceAccount goes, and with it every token minted for it.
task "node_upgrade_revoke" {
  on   = local.first_master
  sudo = true

  run "delete" {
    # a computed index: after every node's rollout
    when    = task.node_upgrade_token.output.token != "" && length([for h in local.all_hosts : task.node_upgrade[h.name]]) > 0
    command = "${local.node_upgrade_kubectl} -n kube-system delete serviceaccount plan-node-upgrade --ignore-not-found"
  }
}
