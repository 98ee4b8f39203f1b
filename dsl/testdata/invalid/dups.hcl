group "g" {}
task "t" {
  on = group.g.hosts
  run "a" {
    command = "a"
  }
  file "a" {
    destination = "/a"
    content     = "a"
  }
  output "o" {
    value = 1
  }
  output "o" {
    value = 2
  }
}
variable "v" {}
variable "v" {}
