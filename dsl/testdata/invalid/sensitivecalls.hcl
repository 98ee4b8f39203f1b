# -H h1
# No part of a sensitive value in any diagnostic, function errors included.
variable "api_key" {
  default   = "SECRET-abc:xyz/99"
  sensitive = true
}
group "g" {}
task "t" {
  on = group.g.hosts
  run "json" {
    command = "echo ${jsondecode(var.api_key)}"
  }
  run "date" {
    command = "echo ${formatdate(var.api_key, "2026-01-01T00:00:00Z")}"
  }
  run "cidr" {
    command = "echo ${cidrsubnet(var.api_key, 8, 1)}"
  }
  run "num" {
    command = "echo ${tonumber(var.api_key)}"
  }
  run "b64" {
    command = "echo ${base64decode(var.api_key)}"
  }
  run "regex" {
    command = "echo ${regex(var.api_key, "x")}"
  }
  file "mode" {
    destination = "/etc/x"
    content     = "x"
    mode        = var.api_key
  }
}
