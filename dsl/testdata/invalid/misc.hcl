# -H h1
group "g" {}
task "t" {
  on   = group.g.hosts
  when = step.a.changed
  retry {
    attempts = 0
  }
  run "a" {
    command = uper("x")
  }
  run "b" {
    command = cidrhost("10.0.0.0/24")
  }
  output "o" {
    value     = 1
    sensitive = step.a.changed
  }
  output "p" {
    value = 2
  }
}
