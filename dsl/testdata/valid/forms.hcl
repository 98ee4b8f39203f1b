# Every step kind, guard and task argument.
# -H web=admin@web1:2222,web2
# -H db=db1
variable "replicas" {
  type    = number
  default = 2
}
variable "features" {
  type    = map(bool)
  default = { audit = true, debug = false }
}

locals {
  subnet  = cidrsubnet("10.0.0.0/16", 8, 3)
  message = yamlencode({ name = "plan", replicas = var.replicas, tags = ["a", "b"] })
  encoded = base64encode("hello")
  digest  = sha256("hello")
}

group "web" {}
group "db" {}

task "prepare" {
  on      = group.web.hosts
  sudo    = true
  timeout = "5m"
  env     = { LANG = "C", SUBNET = local.subnet }
  retry {
    attempts = 3
    delay    = "2s"
  }
  run "id" {
    command = "id -u"
  }
  run "only_root" {
    command = "echo root"
    when    = trimspace(step.id.stdout) == "0"
  }
  script "inline" {
    interpreter = "/bin/bash -s"
    content     = <<-EOT
      set -eu
      echo "${local.message}"
    EOT
  }
  file "conf" {
    destination = "/etc/app/app.conf"
    content     = jsonencode({ features = var.features, host = target.name })
    mode        = "0640"
    owner       = "root"
    group       = "root"
  }
  fetch "hostname" {
    source = "/etc/hostname"
  }
  reboot "kernel" {
    when    = var.features.debug
    timeout = "10m"
  }
  output "hostname" {
    value = trimspace(step.hostname.content)
  }
  output "uid" {
    value = step.id.exit_code
  }
}

task "db_setup" {
  on   = group.db.hosts
  when = var.replicas > 1
  run "init" {
    command = "echo web1 is ${task.prepare["web1"].output.hostname}"
    creates = "/var/lib/db/ready"
    unless  = "test -f /var/lib/db/skip"
    env     = { DIGEST = local.digest }
  }
}

task "after_all" {
  on         = concat(group.web.hosts, group.db.hosts)
  depends_on = [task.db_setup]
  run "done" {
    command = "echo ${upper(target.name)} ${local.encoded} ${task.prepare["web2"].output.uid}"
  }
}

task "nowhere" {
  on = []
  run "never" {
    command = "true"
  }
}
