# No -H: masters and workers are filled only by -H. The plan is valid, its
# tasks have no node yet, and nothing needs slice(..., 0, min(1, ...)).
group "masters" {}
group "workers" {}

locals {
  first_master = group.masters.hosts[0]
  api          = "https://${group.masters.hosts[0].address}:6443"
}

task "ca" {
  on = group.masters.hosts[0]
  run "key" {
    command = "echo ${local.api}"
  }
  output "crt" {
    value = step.key.stdout
  }
}

task "join" {
  on = group.workers.hosts
  run "join" {
    command = "echo ${task.ca.output.crt} ${local.first_master.name}"
  }
}

task "everyone" {
  on = concat([local.first_master], group.workers.hosts)
  run "hi" {
    command = "echo hi"
  }
}
