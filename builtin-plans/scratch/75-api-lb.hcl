# The node-local API load balancer (no external load balancer needed): HAProxy from the OS's
# packages, as in kubeadm's HA guide, on every node, on 127.0.0.1:api_lb_port, in front of every
# master's kube-apiserver. kubelet, kube-proxy, flannel and the bootstrap kubeconfig use it, so a
# node keeps its API while any one master is down. TLS passes through (mode tcp): clients still
# verify the API server (its certificate names 127.0.0.1) and authenticate themselves.

task "api_lb" {
  on         = local.all_hosts
  sudo       = true
  when       = local.api_lb
  depends_on = [task.node_kubeconfigs]

  # As the other OS packages (os_prep): installed only when missing, so hosts that have it
  # (the lab's, an air-gapped host prepared beforehand) need no network.
  run "package_dnf" {
    when    = task.facts.output.os_family == "rhel"
    command = "dnf install -y haproxy"
    unless  = "rpm -q haproxy >/dev/null 2>&1"
  }
  run "package_apt" {
    when    = task.facts.output.os_family == "debian"
    command = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy"
    unless  = "test \"$(dpkg-query -W -f='$${db:Status-Abbrev}' haproxy 2>/dev/null)\" = 'ii '"
  }

  # SELinux enforcing: HAProxy may connect only to its known ports unless told otherwise.
  run "selinux_connect_any" {
    when    = task.facts.output.os_family == "rhel" && var.selinux_mode == "enforcing"
    command = "setsebool -P haproxy_connect_any 1"
    unless  = "! command -v getsebool >/dev/null || getsebool haproxy_connect_any | grep -q -- '--> on$'"
  }

  # The health checks ask each API server's /readyz over TLS. Anonymous requests are refused
  # (401), so they present kube-proxy's client certificate (any authenticated user may read
  # /readyz), which every node has. HAProxy wants certificate and key in one file: made here,
  # on the node, readable by root only (HAProxy loads it before it drops to its user); made
  # again, and HAProxy reloaded, when the certificate is renewed (its digest is an input).
  run "check_cert" {
    command = "umask 077 && cat /var/lib/kube-proxy/kube-proxy.crt /var/lib/kube-proxy/kube-proxy.key > /etc/haproxy/kube-apiserver-lb.pem.new && mv /etc/haproxy/kube-apiserver-lb.pem.new /etc/haproxy/kube-apiserver-lb.pem"
    unless  = "test \"$(sha256sum < /var/lib/kube-proxy/kube-proxy.crt | cut -c1-64)\" = ${task.node_kubeconfigs.output.kube_proxy_crt_sha256} && cat /var/lib/kube-proxy/kube-proxy.crt /var/lib/kube-proxy/kube-proxy.key | cmp -s - /etc/haproxy/kube-apiserver-lb.pem"
  }

  file "config" {
    destination = "/etc/haproxy/kube-apiserver-lb.cfg"
    content = templatefile("templates/kube-apiserver-lb.cfg", {
      port    = var.api_lb_port
      servers = [for m in group.masters.hosts : { name = m.name, address = task.facts[m.name].output.ip }]
    })
    mode = "0600"
  }

  # Its own unit, not the distribution's haproxy.service: a haproxy the host runs for
  # something else keeps its configuration.
  file "unit" {
    destination = "/etc/systemd/system/kube-apiserver-lb.service"
    content     = file("templates/kube-apiserver-lb.service")
    mode        = "0600"
  }

  run "restart" {
    when    = step.unit.changed
    command = "systemctl daemon-reload && systemctl enable kube-apiserver-lb && systemctl restart kube-apiserver-lb"
  }
  # A new set of masters or a new certificate: a reload keeps the open connections (the old
  # process serves them for up to 30 s, hard-stop-after).
  run "reload" {
    when    = !step.unit.changed && (step.config.changed || step.check_cert.changed)
    command = "systemctl reload-or-restart kube-apiserver-lb"
  }
  run "start" {
    command = "systemctl enable --now kube-apiserver-lb"
    unless  = "systemctl is-active -q kube-apiserver-lb"
  }

  # An API server answers through it (the first master's is up by now).
  script "wait_ready" {
    unless = "${local.api_lb_ready} >/dev/null 2>&1"
    content = templatefile("templates/wait.sh", {
      what     = "an API server to answer through the load balancer on 127.0.0.1:${var.api_lb_port}"
      timeout  = 120
      interval = 1
      probe    = local.api_lb_ready
      diagnose = "systemctl status --no-pager kube-apiserver-lb; echo 'show stat' | socat stdio /run/kube-apiserver-lb.sock 2>/dev/null | cut -d, -f1,2,18"
      ready    = "the API answers through the load balancer"
    })
  }
}

locals {
  # /readyz through the node's load balancer, as kube-proxy (any authenticated user may ask)
  api_lb_ready = "curl -fsS --max-time 5 --cacert /etc/kubernetes/pki/ca.crt --cert /var/lib/kube-proxy/kube-proxy.crt --key /var/lib/kube-proxy/kube-proxy.key https://127.0.0.1:${var.api_lb_port}/readyz"
}
