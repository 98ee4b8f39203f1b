# Etcd (seed step 5) on every master, with TLS for clients and peers, client
# certificate authentication, as the etcd user. Three masters make a three-member cluster.

locals {
  # Exits 0 when unit %[1]s's main process runs the file %[2]s as installed now (or does not
  # run): same device and inode.
  runs_installed = "p=$(systemctl show -p MainPID --value %[1]s); [ \"$${p:-0}\" = 0 ] || [ \"$(stat -L -c %%d:%%i /proc/$p/exe)\" = \"$(stat -c %%d:%%i %[2]s)\" ]"

  # The local member's health, with the client certificate. Tools the plan installs live in
  # /usr/local/bin, which sudo's secure_path on Oracle Linux leaves out: absolute paths.
  etcd_health = "/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd-ca.crt --cert=/etc/kubernetes/pki/etcd-client.crt --key=/etc/kubernetes/pki/etcd-client.key --command-timeout=5s endpoint health"
}

# One member at a time (serial = 1): a member restarted for a new binary or unit is healthy
# again (wait_healthy) before the next one stops, so the cluster keeps its quorum.
task "etcd" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.etcd_binaries, task.server_certs, task.firewall]
  serial     = 1

  run "data_dir" {
    command = "install -d -o etcd -g etcd -m 0700 /var/lib/etcd"
    unless  = "test \"$(stat -c %U:%a /var/lib/etcd 2>/dev/null)\" = etcd:700"
  }

  file "unit" {
    destination = "/etc/systemd/system/etcd.service"
    content = templatefile("templates/etcd.service", {
      name          = target.name
      ip            = task.facts.output.ip
      cluster_token = "${var.cluster_name}-etcd-${substr(sha256(local.first_master[0].name), 0, 10)}"
      cipher_suites = join(",", local.tls_cipher_suites)
      extra_args    = var.etcd_extra_args
    })
    mode = "0600" # CIS 1.1.7
  }

  # The first master starts a new cluster; the others join it one after another.
  script "membership" {
    unless = "test -d /var/lib/etcd/member && grep -q '^ETCD_INITIAL_CLUSTER=.' /etc/etcd/cluster.env"
    content = join("\n", [
      "NAME='${target.name}'",
      "IP='${task.facts.output.ip}'",
      "FIRST='${target.name == local.first_master[0].name ? 1 : 0}'",
      "FIRST_IP='${task.pki.output.first_ip}'",
      file("templates/etcd-cluster.sh"),
    ])
  }

  # Started when not running; restarted when its unit or its certificates changed (renewed)
  # since it last started, one master at a time, never while another member is unhealthy
  # (templates/rolling-restart.sh).
  script "rollout" {
    unless = "systemctl is-active -q etcd && test \"$(cat /etc/systemd/system/etcd.service ${local.etcd_certs} | sha256sum | cut -c1-64)\" = \"$(cat /var/lib/scratch/applied/etcd 2>/dev/null)\""
    content = join("\n", [
      "# this master's certificates (server_certs): ${task.server_certs.output.certs_digest}",
      "UNIT=etcd",
      "FILES='/etc/systemd/system/etcd.service ${local.etcd_certs}'",
      "OTHERS='${join(" ", [for m in group.masters.hosts : task.facts[m.name].output.ip if m.name != target.name])}'",
      "TIMEOUT=180",
      file("templates/rolling-restart.sh"),
    ])
  }
  # A new binary (its digest changed the task's inputs): restart when the running etcd is not
  # the installed file (a push replaces the file, so the process runs a deleted inode).
  run "restart_new_binary" {
    when    = task.etcd_binaries.output.etcd_sha256 != ""
    command = "systemctl restart --no-block etcd"
    unless  = format(local.runs_installed, "etcd", "/usr/local/bin/etcd")
  }

  script "wait_healthy" {
    unless = "${local.etcd_health} >/dev/null 2>&1"
    content = templatefile("templates/wait.sh", {
      what     = "etcd to be healthy"
      timeout  = 180
      interval = 1 # poll often: every wait here is on the critical path
      probe    = local.etcd_health
      diagnose = "systemctl status --no-pager etcd"
      ready    = "etcd healthy"
    })
  }
}
