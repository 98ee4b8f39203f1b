# -H h1
group "g" {}
task "t" {
  on = group.g.hosts
  retry {
    attempts = 0
  }
  run "a" {
    command = uper("x")
  }
  run "b" {
    command = cidrhost("10.0.0.0/24")
  }
  run "c" {
    command = templatefile("missing.tpl", {})
  }
}
