# -H web1
variable "secret_keys" {
  default   = ["key-one"]
  sensitive = true
}
group "web" {}
task "t" {
  on = group.web.hosts
  run "dup" {
    for_each = ["x", "x"]
    command  = "echo ${each.value}"
  }
  run "null" {
    for_each = null
    command  = "true"
  }
  run "number" {
    for_each = 3
    command  = "true"
  }
  run "secret" {
    for_each = var.secret_keys
    command  = "true"
  }
}
