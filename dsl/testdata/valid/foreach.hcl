# -H web=web1,web2
# One step, N files: for_each on a step makes one instance per key.
variable "sysctls" {
  default = {
    "net.ipv4.ip_forward"                 = "1"
    "net.bridge.bridge-nf-call-iptables" = "1"
  }
}
group "web" {}

task "configure" {
  on   = group.web.hosts
  sudo = true
  file "sysctl" {
    for_each    = var.sysctls
    destination = "/etc/sysctl.d/90-${each.key}.conf"
    content     = "${each.key} = ${each.value}\n"
  }
  file "conf" {
    for_each    = fileset("files", "*.conf")
    destination = "/etc/app/${each.value}"
    source      = "files/${each.value}"
  }
  run "modules" {
    for_each = toset(["overlay", "br_netfilter"])
    command  = "modprobe ${shellquote(each.key)}"
  }
  run "reload" {
    command = "sysctl --system"
    when    = step.sysctl["net.ipv4.ip_forward"].changed || step.conf["a.conf"].changed
  }
  output "loaded" {
    value = [for k, s in step.modules : k if !s.skipped]
  }
}
