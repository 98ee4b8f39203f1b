# No -H: every group is bound later, and each task is still checked on a
# placeholder host of its group.
variable "pkgs" {
  default = ["a", "b"]
}
group "masters" {}
group "workers" {}

task "list_in_command" {
  on = group.masters.hosts[0]
  run "r" {
    command = "apt-get install ${var.pkgs}"
  }
}
task "template_var" {
  on = group.workers.hosts
  file "f" {
    destination = "/etc/x"
    content     = templatefile("../valid/templates/openssl.cnf", { name = "x" })
  }
}
task "settings" {
  on      = group.workers.hosts
  timeout = 1e309
  retry {
    attempts = 1.5
  }
  run "null_command" {
    command = null
  }
  run "empty_command" {
    command = "  "
  }
  file "owner" {
    destination = "/etc/y"
    content     = "y"
    owner       = 12.5
  }
  file "dir" {
    destination = "/etc/z"
    source      = "adir"
  }
  file "missing" {
    destination = "/etc/w"
    source      = "no-such-file"
  }
}
task "skipped" {
  on = group.workers.hosts
  run "never" {
    when    = target.name == "nobody"
    command = "echo ${var.pkgs}"
  }
}
