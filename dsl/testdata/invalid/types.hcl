# -H h1
variable "m" {
  type    = list(string)
  default = ["a"]
}
group "g" {}
task "a" {
  on = group.g.hosts
  run "x" {
    command = { not = "a string" }
  }
  file "f" {
    destination = "/tmp/x"
    content     = var.m
    mode        = "rwx"
  }
  file "relative" {
    destination = "etc/app.conf"
    content     = ""
  }
  output "list" {
    value = ["a", "b"]
  }
}
task "b" {
  on      = group.g.hosts
  timeout = "forever"
  run "y" {
    command = "echo ${task.a.output.list}"
  }
  run "z" {
    command = "echo ${step.y.exit_code + "x"}"
  }
}
