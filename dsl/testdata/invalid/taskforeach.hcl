# -H w1
group "g" {}
task "deploy" {
  for_each = toset(["web", "api"])
  on       = group.g.hosts
  run "x" {
    command = "echo ${each.key}"
  }
  output "o" {
    value = each.key
  }
}
task "uses" {
  on         = group.g.hosts
  depends_on = [task.deploy["wbe"]]
  run "a" {
    command = "echo ${task.deploy["ap"].output.o}"
  }
}
task "noeach" {
  on = group.g.hosts
  run "x" {
    command = "echo ${each.key}"
  }
}
