# -H h1
group "g" {}
task "a" {
  on = group.g.hosts
  run "x" {
    comand = "echo"
  }
  script "s" {
  }
  file "f" {
    destination = "/tmp/f"
    content     = "x"
    source      = "x"
  }
  bogus "b" {}
}
task "a" {
  on = group.g.hosts
}
resource "x" "y" {}
