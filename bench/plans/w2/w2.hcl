# W2 (bench/, docs/performance.md): one large local file to every host.

variable "source" {
  type        = string
  description = "The local file to push (absolute path)."
}

group "all" {}

task "push" {
  on = group.all.hosts
  file "big" {
    source      = var.source
    destination = "/root/bench-big"
    mode        = "0644"
  }
}
