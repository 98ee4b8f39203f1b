# The checks that say, in one screen, whether the cluster works: etcd health,
# API /readyz, anonymous access refused, leader leases, nodes Ready, CSRs approved,
# flannel and CoreDNS running, and kubernetes.default.svc answered by CoreDNS.

task "checks" {
  on         = local.first_master
  sudo       = true
  depends_on = [task.coredns, task.flannel, task.kubelet_serving, task.node_roles, task.nodes_joined, task.node_upgrade_revoke]

  script "cluster" {
    changed = false # only reads the cluster
    content = join("\n", [
      "EXPECTED_NODES='${length(local.all_hosts)}'",
      "DNS_IP='${local.dns_service_ip}'",
      "API_IP='${local.api_service_ip}'",
      "CLUSTER_DOMAIN='${var.cluster_domain}'",
      "TIMEOUT='${var.check_timeout_seconds}'",
      file("templates/checks.sh"),
    ])
  }

  output "report" {
    value = step.cluster.stdout
  }
}
