# Users and the PKI (seed step 2). Everything is made with openssl on the first
# master; the other masters get only what three masters must share.

# Service users: kube-apiserver, kube-controller-manager and kube-scheduler each run as a
# user of their own (the seed ran all three as "kubernetes", so the scheduler could read the
# CA and service-account keys), etcd as "etcd"; "kube-admin" owns the admin key.
task "users" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.kernel]

  run "kube_apiserver" {
    command = "useradd --system --user-group --no-create-home --shell /sbin/nologin kube-apiserver"
    unless  = "id -u kube-apiserver >/dev/null 2>&1"
  }
  run "kube_controller_manager" {
    command = "useradd --system --user-group --no-create-home --shell /sbin/nologin kube-controller-manager"
    unless  = "id -u kube-controller-manager >/dev/null 2>&1"
  }
  run "kube_scheduler" {
    command = "useradd --system --user-group --no-create-home --shell /sbin/nologin kube-scheduler"
    unless  = "id -u kube-scheduler >/dev/null 2>&1"
  }
  run "etcd" {
    command = "useradd --system --user-group --no-create-home --shell /sbin/nologin etcd"
    unless  = "id -u etcd >/dev/null 2>&1"
  }
  run "kube_admin" {
    command = "useradd --system --user-group --no-create-home --shell /sbin/nologin kube-admin"
    unless  = "id -u kube-admin >/dev/null 2>&1"
  }
}

# The certificates on each host that expire within cert_renew_before_days, on every run
# (always_run: time passes between runs): one line each in the step's output (`plan run -v`,
# the node log, --output json), path, subject, not-after and days left, and whether the plan
# renews it in this run. It only reads. Its output lists the leaf certificates to renew; pki,
# server_certs and kube_proxy_certs refer to it, so they run when it changes, and as long as
# nothing is due it stays empty and they stay up to date.
task "cert_expiry" {
  on         = local.all_hosts
  sudo       = true # the kubelet's certificates are readable by root only
  depends_on = [task.os_prep]
  always_run = true

  script "report" {
    changed = false
    content = join("\n", [
      "HOST='${target.name}'",
      "RENEW_DAYS='${var.cert_renew_before_days}'",
      file("templates/cert-expiry.sh"),
    ])
  }

  # the paths of the leaf certificates due for renewal, space-separated ("" when none)
  output "renew" {
    value = join(" ", flatten(regexall("(?m)^renew +(\\S+)", step.report.stdout)))
  }
}

# Three CAs (kubernetes, front-proxy, etcd), the client certificates, the service-account
# key pair and the encryption key, on the first master. Keys never appear in the plan:
# they are made on the node and stay there, except the bundle the other masters get.
task "pki" {
  on         = local.first_master
  sudo       = true
  depends_on = [task.users]

  # skipped when everything exists, no client certificate expires within
  # cert_renew_before_days and the bundle (three masters) holds the client certificates in
  # place (pki-ca.sh would keep it all anyway, and renew what is due)
  script "certificates" {
    unless = "cd /etc/kubernetes/pki && ls ca.key ca.crt front-proxy-ca.key front-proxy-ca.crt etcd-ca.key etcd-ca.crt kubelet-serving-ca.key kubelet-serving-ca.crt super-admin.key super-admin.crt sa.key sa.pub ${join(" ", [for c in local.client_certs : "${c}.key ${c}.crt"])} ../encryption-config.yaml >/dev/null 2>&1 && ${length(local.other_masters) > 0 ? "test -s bundle.tgz.b64 && test \"$(cat ${join(" ", [for c in local.client_certs : "${c}.crt"])} | sha256sum | cut -c1-64)\" = \"$(cat bundle.certs.sha256 2>/dev/null)\"" : "! test -e bundle.tgz.b64 && ! test -e bundle && ! test -e kube-proxy.key"} && for c in super-admin ${join(" ", local.client_certs)}; do openssl x509 -checkend ${local.cert_renew_seconds} -noout -in $c.crt >/dev/null || exit 1; done"
    content = join("\n", [
      "# due for renewal on this host (cert_expiry): ${task.cert_expiry.output.renew}",
      "CURVE='${var.key_curve}'",
      "CA_DAYS='${var.ca_days}'",
      "CERT_DAYS='${var.cert_days}'",
      "RENEW_SECONDS='${local.cert_renew_seconds}'",
      "ENC_PROVIDER='${var.encryption_provider}'",
      "SHARE='${length(local.other_masters) > 0 ? 1 : 0}'",
      file("templates/pki-lib.sh"),
      file("templates/pki-ca.sh"),
    ])
  }

  fetch "ca_crt" {
    source = "/etc/kubernetes/pki/ca.crt"
  }
  # Only with other masters to share it with: a single master's keys never leave it (not
  # even sealed into the operator's run state).
  fetch "bundle" {
    when   = length(local.other_masters) > 0
    source = "/etc/kubernetes/pki/bundle.tgz.b64"
  }
  run "bundle_digest" {
    when    = length(local.other_masters) > 0
    changed = false
    command = "sha256sum < /etc/kubernetes/pki/bundle.tgz.b64 | cut -c1-64"
  }

  output "ca_crt" {
    value = step.ca_crt.content
  }
  output "bundle" {
    value     = step.bundle.content
    sensitive = true
  }
  output "bundle_digest" {
    value = trimspace(step.bundle_digest.stdout)
  }
  # The address workers (and the certificates) use for the API: api_endpoint, else the
  # first master's own address.
  output "api_address" {
    value = var.api_endpoint != "" ? var.api_endpoint : task.facts.output.ip
  }
  output "first_ip" {
    value = task.facts.output.ip
  }
}

# Three masters: every other master unpacks the first master's bundle. The bundle is sent
# as the script's stdin and never written to disk here; a digest records which one was
# unpacked. It is unpacked beside the files, then each file is renamed into place: a renewal
# interrupted here leaves each file whole, old or new (and keys are kept on renewal, so any
# certificate matches its key).
task "pki_share" {
  on         = local.other_masters
  sudo       = true
  depends_on = [task.users] # and, on this host, after install_id: a reset master gets the bundle again

  script "unpack" {
    unless  = "test \"$(cat /etc/kubernetes/pki/bundle.sha256 2>/dev/null)\" = '${task.pki.output.bundle_digest}'"
    content = <<-EOT
      set -eu
      umask 077
      mkdir -p /etc/kubernetes/pki /etc/kubernetes/manifests
      rm -rf /etc/kubernetes/.bundle.new
      mkdir /etc/kubernetes/.bundle.new
      base64 -d <<'BUNDLE' | tar -xzf - -C /etc/kubernetes/.bundle.new
      ${task.pki.output.bundle}
      BUNDLE
      cd /etc/kubernetes/.bundle.new
      find . -type f | while read -r f; do mv -f "$f" "/etc/kubernetes/$f"; done
      cd /etc/kubernetes
      rm -rf /etc/kubernetes/.bundle.new
      rm -f /etc/kubernetes/pki-bundle.tgz.b64 /etc/kubernetes/pki-bundle.applied
      printf '%s\n' '${task.pki.output.bundle_digest}' > /etc/kubernetes/pki/bundle.sha256
    EOT
  }
}

# Every master's own server certificates: kube-apiserver, etcd server and etcd peer, for
# its own address and name; then the owners and modes of the whole PKI.
task "server_certs" {
  on         = group.masters.hosts
  sudo       = true
  depends_on = [task.users, task.pki, task.pki_share] # users: the keys belong to them

  # skipped when this master's certificates were made for the same names and addresses and
  # none expires within cert_renew_before_days
  script "certificates" {
    unless = "test -f /etc/kubernetes/pki/kube-apiserver.crt && test -f /etc/kubernetes/pki/etcd.crt && test -f /etc/kubernetes/pki/etcd-peer.crt && test \"$(cat /etc/kubernetes/pki/server-certs.inputs 2>/dev/null)\" = '${target.name} ${task.facts.output.ip} ${task.facts.output.hostname} ${task.pki.output.api_address} ${local.api_service_ip} ${var.cluster_domain}' && for c in kube-apiserver etcd etcd-peer; do openssl x509 -checkend ${local.cert_renew_seconds} -noout -in /etc/kubernetes/pki/$c.crt >/dev/null || exit 1; done"
    content = join("\n", [
      "# due for renewal on this host (cert_expiry): ${task.cert_expiry.output.renew}",
      "NAME='${target.name}'",
      "IP='${task.facts.output.ip}'",
      "HOST='${task.facts.output.hostname}'",
      "API_ENDPOINT='${task.pki.output.api_address}'",
      "SERVICE_IP='${local.api_service_ip}'",
      "CLUSTER_DOMAIN='${var.cluster_domain}'",
      "CURVE='${var.key_curve}'",
      "CA_DAYS='${var.ca_days}'",
      "CERT_DAYS='${var.cert_days}'",
      "RENEW_SECONDS='${local.cert_renew_seconds}'",
      file("templates/pki-lib.sh"),
      file("templates/pki-server.sh"),
    ])
  }

  # Files unpacked from a new bundle (pki_share) come owned by root: set again.
  script "permissions" {
    unless  = "test \"$(stat -c %a:%U:%G /etc/kubernetes /etc/kubernetes/pki /etc/kubernetes/pki/ca.key /etc/kubernetes/pki/sa.key /etc/kubernetes/pki/kube-apiserver.key /etc/kubernetes/pki/kube-scheduler.key /etc/kubernetes/pki/etcd.key /etc/kubernetes/pki/admin.key /etc/kubernetes/encryption-config.yaml | tr '\\n' ' ')\" = '755:root:root 755:root:root 600:kube-controller-manager:kube-controller-manager 640:kube-apiserver:kube-controller-manager 600:kube-apiserver:kube-apiserver 600:kube-scheduler:kube-scheduler 600:etcd:etcd 600:kube-admin:kube-admin 600:kube-apiserver:kube-apiserver '"
    content = join("\n", [
      "# the bundle unpacked here (pki_share): ${task.pki.output.bundle_digest}",
      file("templates/pki-perms.sh"),
    ])
  }

  # The digest of every certificate the control plane on this master reads (client and
  # server): a renewal changes it, and so the inputs of etcd, kube_apiserver,
  # kube_controller_manager and kube_scheduler, whose rollouts restart what reads a new one.
  run "certs_digest" {
    changed = false
    command = "cat ${local.etcd_certs} ${local.kube_apiserver_certs} ${local.kube_controller_manager_certs} ${local.kube_scheduler_certs} | sha256sum | cut -c1-64"
  }
  output "certs_digest" {
    value = trimspace(step.certs_digest.stdout)
  }
}
